"""Where ``--cache-images`` keeps the decoded images and whether they fit there; no heavy import.

* ``ram``: a file in ``/dev/shm``, a memory-backed file system every process of a machine maps, so DataLoader
  workers and DDP processes read one copy. Removed when the run ends; one a killed run left is removed by the next
  ``ram`` run (:mod:`litcls.data.cache_sweep`).
* ``disk``: a file under ``$LITCLS_CACHE/images`` (default ``~/.cache/litcls/images``), kept for later runs; one no
  run used for a month is removed when a run writes a new one.
* ``auto``: ``ram`` when the images take at most :data:`AUTO_RAM_SHARE` of the memory available now, else ``none``.
  A quarter leaves the rest for what a run needs besides the images (the model, its optimizer and activations,
  the loader workers, the operating system's file cache) and for other jobs on a shared machine.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from litcls.cache import cache_root
from litcls.errors import UserError

CACHE_MODES = ("auto", "ram", "disk", "none")
RAM_DIR = Path("/dev/shm")
AUTO_RAM_SHARE = 0.25


def disk_dir() -> Path:
    return cache_root() / "images"


def available_memory() -> int:
    """Bytes of memory available without swapping (Linux ``MemAvailable``); 0 where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def free_space(folder: Path) -> int:
    """Free bytes on the file system of ``folder`` (or of its nearest existing parent)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def gigabytes(size: int) -> str:
    """A size in GB, or in MB below one GB."""
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB"


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed; refuse with one line naming it when it cannot hold files."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"--cache-images: cannot create the cache folder {folder} ({err.strerror}); set "
                        "LITCLS_CACHE to a writable folder or pass --cache-images ram or none") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"--cache-images: the cache folder {folder} is not writable; set LITCLS_CACHE to a "
                        "writable folder or pass --cache-images ram or none")


def choose_place(mode: str, estimate: int) -> tuple[str, Path | None, str]:
    """The mode taken (``ram``, ``disk`` or ``none``), its folder, and one line saying why.

    Raises:
        UserError: ``ram`` or ``disk`` was asked explicitly and the images do not fit, or the folder is not writable.
    """
    if mode == "none":
        return "none", None, ""
    size = gigabytes(estimate)
    if mode == "disk":
        folder = disk_dir()
        check_writable(folder)
        if estimate > free_space(folder):
            raise UserError(f"--cache-images disk: the decoded images take {size} but {folder} has "
                            f"{gigabytes(free_space(folder))} free; free space, set LITCLS_CACHE elsewhere or pass "
                            "--cache-images none")
        return "disk", folder, f"image cache: disk, {size} in {folder}"
    room = min(available_memory(), free_space(RAM_DIR)) if RAM_DIR.is_dir() else 0
    if mode == "ram":
        if not RAM_DIR.is_dir():
            raise UserError(f"--cache-images ram: this system has no {RAM_DIR} to share memory between processes; "
                            "pass --cache-images disk or none")
        if estimate > room:
            raise UserError(f"--cache-images ram: the decoded images take {size} but only {gigabytes(room)} of "
                            "memory is available; pass --cache-images disk, a smaller --img-size, or none")
        check_writable(RAM_DIR)
        return "ram", RAM_DIR, f"image cache: ram, {size} in {RAM_DIR}"
    budget = int(room * AUTO_RAM_SHARE)
    if estimate <= budget and os.access(RAM_DIR, os.W_OK):
        return "ram", RAM_DIR, (f"image cache: ram ({size}, within the budget of {gigabytes(budget)}, a quarter of "
                                "the memory available; --cache-images sets it)")
    return "none", None, (f"image cache: none, the decoded images would take {size}, more than the budget of "
                          f"{gigabytes(budget)} (a quarter of the memory available); images are decoded every epoch "
                          "(--cache-images disk keeps them on disk)")
