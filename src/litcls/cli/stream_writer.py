"""The process that lays out and writes a stream, started before ``python -m litcls.stream`` reads its source.

Writing needs LitData (which imports torch) and the split needs scikit-learn: about 4.5 s of imports on the
bench machine, which would otherwise wait until the scan of the source ends. Forked first (a forked process
shares what is already imported and starts in milliseconds), the writing process imports them while this one
lists and checks the images, then takes the sample table through a pipe and writes. Where processes are not
forked (not Linux), the same work runs in this process after the scan.
"""

from __future__ import annotations

import multiprocessing
import pickle
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

FORK = sys.platform == "linux"


def warm_up() -> None:
    """What the writing imports; in the forked process, while the source is read."""
    import litdata.streaming.writer  # noqa: F401 - imports torch
    import sklearn.model_selection  # noqa: F401


class WriterProcess:
    """``run(job, *args)`` in a process forked now and warmed up with :func:`warm_up`; the job's return value or
    exception comes back (``job`` and its arguments go through a pipe, so they must pickle)."""

    def __init__(self) -> None:
        self.process = None
        if FORK:
            context = multiprocessing.get_context("fork")
            self.connection, theirs = context.Pipe()
            self.process = context.Process(target=_serve, args=(theirs,), name="litcls-stream-writer")
            sys.stdout.flush()  # (or what this process has yet to print would be printed by both)
            sys.stderr.flush()
            self.process.start()
            theirs.close()

    def run(self, job: Callable[..., Any], *args: Any) -> Any:
        if self.process is None:
            return job(*args)
        self.connection.send((job, args))
        try:
            succeeded, value = self.connection.recv()
        except EOFError:  # killed (out of memory, a signal) before it could answer
            raise RuntimeError(f"the writing process ended with exit code {self.process.exitcode} before it "
                               "finished") from None
        if not succeeded:
            raise value
        return value

    def close(self) -> None:
        """End the process: it exits after its one job, or now if it never got one."""
        if self.process is None:
            return
        self.connection.close()  # its wait for a job ends with EOFError
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()

    def __enter__(self) -> WriterProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serve(connection: Connection) -> None:
    warm_up()
    try:
        job, args = connection.recv()
    except EOFError:  # the source could not be read: nothing to write
        return
    try:
        answer = (True, job(*args))
    except BaseException as err:  # noqa: BLE001 - handed to the parent, which raises it
        answer = (False, err)
    try:
        connection.send(answer)
    except (pickle.PicklingError, TypeError, AttributeError):
        connection.send((False, RuntimeError(f"{type(answer[1]).__name__}: {answer[1]}")))
    connection.close()
