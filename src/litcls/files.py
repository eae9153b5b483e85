"""Writing files that other processes read: whole or not at all, and JSON numbers without NaN.

A process killed while writing (a cluster time limit, Ctrl-C) or a second process reading at the same time (DDP
ranks, k-fold array jobs, a shared cache) must never see half a file: every such file is written under a temporary
name in the same folder and renamed over the target, which the operating system does in one step.
"""

from __future__ import annotations

import math
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """``write(tmp)`` into a hidden temporary path beside ``path``, then rename it to ``path``.

    ``write`` may create a file or a folder at the path it is given. Whatever it leaves there is removed when it or
    the rename fails, and the error is raised (a folder renames only onto a missing or empty one).

    Returns:
        ``path``.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if temporary.is_dir():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            temporary.unlink(missing_ok=True)
    return path


def json_number(value: float | None) -> float | None:
    """A metric as a JSON number; an undefined one (NaN: a PPV with no positive call, the std of one fold) as null."""
    return None if value is None or math.isnan(float(value)) else float(value)
