"""Lightning messages a user can do nothing about, filtered once for every Trainer the package builds (training,
its evaluation, predict.py's prediction loop); and warnings shown as one line each on the command lines."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

# Lightning 2.6 builds torch's deprecated LeafSpec when it moves a batch; torch 2.14 then warns in every run,
# about code the user cannot change.
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
# Every Trainer Lightning builds advertises a logging service (once per run, once per fold plus its evaluation).
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
    lambda record: not str(record.msg).startswith("💡 Tip"))

_PACKAGE = Path(__file__).resolve().parent
_python_format = warnings.formatwarning


def _one_line(message, category, filename, lineno, line=None) -> str:
    if Path(filename).resolve().is_relative_to(_PACKAGE):  # ours: the message says what to do; the code line
        return f"warning: {message}\n"                      # that raised it (``return scan_folder(...)``) does not
    return _python_format(message, category, filename, lineno, "")  # the library's file:line to look it up


def one_line_warnings() -> None:
    """Show warnings as one line each, for the command lines: ``warning: <message>`` for litcls' own, Python's
    ``file:line: Category: message`` for other libraries' (where the location is what one looks up), in both
    cases without the source line Python adds. Called where a command line starts, never on import, so a notebook
    that imports litcls keeps its own warning format."""
    warnings.formatwarning = _one_line
