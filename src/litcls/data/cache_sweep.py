"""Image cache files no live process uses are removed, so a killed run's ``/dev/shm`` file does not hold memory
until reboot and ``$LITCLS_CACHE/images`` does not grow forever.

Who uses a file is told by advisory locks (``flock``): every process that maps a cache file holds a shared lock on
it for its lifetime (a forked DataLoader worker inherits it; a spawned worker or another DDP process takes its own),
and the writer holds one on its temporary file from creation through the rename. The kernel drops a process's locks
when it dies, even by SIGKILL or the OOM killer, so a file on which an exclusive lock succeeds has no live user.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import BinaryIO

from litcls.data.cache_place import gigabytes

PATTERNS = ("litcls-images-*", ".litcls-images-*")  # final files, and the temporary ones litcls.files writes
DISK_UNUSED_DAYS = 30  # a disk cache file no run has used for this long is removed when a run writes a new one


def hold(path: Path, create: bool = False) -> BinaryIO | None:
    """``path`` opened under a shared lock that lasts while the returned file stays open; None when ``path`` is
    gone (a sweep may remove it between the open and the lock). ``create`` makes the file when missing."""
    while True:
        try:
            file = open(path, "ab" if create else "rb")  # noqa: SIM115 - the caller keeps it open for the lock
        except FileNotFoundError:
            return None
        fcntl.flock(file, fcntl.LOCK_SH)
        if _names(path, file):
            return file
        file.close()
        if not create:
            return None


def touch(path: Path) -> None:
    """Mark ``path`` as used now (its modification time), which keeps it from :func:`sweep_disk` a while longer."""
    try:
        os.utime(path)
    except OSError:  # another user's file in a shared cache: its age stays as it was
        pass


def remove_unused(folder: Path, older_than: float | None = None) -> tuple[int, int]:
    """Remove the cache files of ``folder`` that no live process holds (and, given ``older_than`` seconds, that
    were not modified for that long): (files removed, bytes freed)."""
    cutoff = time.time() - older_than if older_than is not None else None
    removed = freed = 0
    for path in sorted({path for pattern in PATTERNS for path in Path(folder).glob(pattern)}):
        size = remove_if_unused(path, cutoff)
        if size is not None:
            removed, freed = removed + 1, freed + size
    return removed, freed


def remove_if_unused(path: Path, modified_before: float | None = None) -> int | None:
    """Remove ``path`` when no live process holds it (and it was last modified before ``modified_before``, a
    time stamp): the bytes it occupied, or None when it is kept."""
    try:
        with open(path, "rb") as file:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            facts = os.fstat(file.fileno())
            if (modified_before is not None and facts.st_mtime >= modified_before) or not _names(path, file):
                return None
            path.unlink()  # under the exclusive lock: a process about to hold it finds it gone and writes it again
            return facts.st_blocks * 512
    except OSError:  # gone meanwhile, held by a live process, another user's, or a file system without locks
        return None


def sweep_ram(folder: Path) -> str:
    """Remove the cache files of ``folder`` that runs which died without cleaning up left there; one line saying
    what that freed, empty when nothing was removed."""
    removed, freed = remove_unused(folder)
    return (f"image cache: removed {removed} file(s) that ended runs left in {folder}, freeing {gigabytes(freed)} of "
            "memory") if removed else ""


def sweep_disk(folder: Path) -> str:
    """Remove the cache files of ``folder`` no run used for :data:`DISK_UNUSED_DAYS` days; one line saying what
    that freed, empty when nothing was removed."""
    removed, freed = remove_unused(folder, DISK_UNUSED_DAYS * 86400)
    return (f"image cache: removed {removed} file(s) of {folder} no run used for {DISK_UNUSED_DAYS} days, freeing "
            f"{gigabytes(freed)} of disk") if removed else ""


def _names(path: Path, file: BinaryIO) -> bool:
    """True when ``path`` still names the file ``file`` has open."""
    try:
        named, opened = os.stat(path), os.fstat(file.fileno())
    except OSError:
        return False
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)
