"""Scan an image folder into one sample table that everything downstream uses.

Two layouts are accepted:

* class folders: ``root/<class>/**/<image>``
* pre-split: ``root/train/<class>/...`` plus ``val/`` (or ``valid``, ``validation``) and/or ``test/``

Hidden files and folders (``.DS_Store``, AppleDouble ``._*`` files), ``__MACOSX`` and other system folders,
and files without an image extension (``Thumbs.db``, ``desktop.ini``, notes) are ignored. Image files that
cannot be decoded are skipped with one warning (see :mod:`litcls.data.validate`), on every start: their verdicts,
like those of every other file, are kept in the scan index (:mod:`litcls.data.index`), so a later start lists and
stats the folder but checks only new or changed files.
"""

from __future__ import annotations

import os
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from litcls.data import index
from litcls.data.samples import SampleTable
from litcls.data.source_paths import missing_data_folder
from litcls.data.validate import describe_rejected, find_unreadable
from litcls.errors import UserError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
SPLIT_FOLDERS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_IGNORED_DIRS = {"__MACOSX", "@eaDir", "$RECYCLE.BIN", "System Volume Information"}


def is_image(name: str) -> bool:
    """True for a visible file with an image extension, whatever its case (``IMG_001.JPG``)."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _nfc(text: str) -> str:
    # macOS writes names decomposed (NFD); normalising makes class names and sort order machine-independent.
    # Paths keep their bytes as found: on Linux an NFD-named file cannot be opened by its NFC name.
    return unicodedata.normalize("NFC", text)


def _all_nfc(texts: list[str]) -> bool:
    """True when normalising would change none of ``texts`` (ASCII, the usual case, is checked in one go)."""
    return "".join(texts).isascii() or all(unicodedata.is_normalized("NFC", text) for text in texts)


def sort_by_path(samples: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by path, compared in NFC form, so a copy of the folder made on a Mac splits the same."""
    if _all_nfc(samples["path"].tolist()):
        if samples["path"].is_monotonic_increasing:  # already in order, as a scan leaves it
            return samples.reset_index(drop=True)
        return samples.sort_values("path", ignore_index=True, kind="stable")
    return samples.sort_values("path", key=lambda paths: paths.map(_nfc), ignore_index=True, kind="stable")


def _subfolders(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                   and p.name not in _IGNORED_DIRS), key=lambda p: _nfc(p.name))


_STAT_IN_FOLDER = os.scandir in os.supports_fd  # POSIX


class _Listing:
    """Image paths found under a folder with their stat (-1 where it fails), in three columns."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.stats: list[int] = []  # size, mtime (ns), ctime (ns) of each path in turn

    def add(self, folder: str, prefix: str) -> None:
        """Add every image under ``folder`` (recursively, as os.walk: symlinked subfolders are not entered,
        folders that cannot be listed hold nothing) as ``prefix`` + its '/'-separated path, with its stat."""
        subfolders = []
        paths, stats, extensions = self.paths, self.stats, IMAGE_EXTENSIONS
        fd = None
        try:
            if _STAT_IN_FOLDER:  # entry.stat() then looks the name up in the folder, not the whole path
                fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            with os.scandir(folder if fd is None else fd) as entries:
                for entry in entries:
                    name = entry.name
                    try:
                        is_dir = entry.is_dir()  # no system call on most file systems
                    except OSError:
                        is_dir = False
                    if is_dir:
                        if name[0] != "." and name not in _IGNORED_DIRS and not entry.is_symlink():
                            subfolders.append((os.path.join(folder, name), f"{prefix}{name}/"))
                    elif name[0] != "." and name[name.rfind("."):].lower() in extensions:  # is_image, inlined
                        paths.append(prefix + name)
                        try:
                            st = entry.stat()
                            stats += st.st_size, st.st_mtime_ns, st.st_ctime_ns
                        except OSError:
                            stats += -1, -1, -1
        except OSError:
            return
        finally:
            if fd is not None:
                os.close(fd)
        for path, sub_prefix in subfolders:
            self.add(path, sub_prefix)


def _sorted(paths: list[str], stats: np.ndarray) -> tuple[list[str], np.ndarray]:
    """``paths`` sorted (compared in NFC form) and their (n, 3) ``stats`` in the same order."""
    keys = paths if _all_nfc(paths) else [_nfc(path) for path in paths]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return [paths[i] for i in order], stats.reshape(-1, 3)[order]


def _list_class_folder(folder: str, prefix: str) -> tuple[list[str], np.ndarray]:
    listing = _Listing()
    listing.add(folder, prefix)
    return _sorted(listing.paths, np.array(listing.stats, np.int64))


def _scan_class_folders(folder: Path, prefix: str = "") -> dict[str, tuple[list[str], np.ndarray]]:
    """Class name -> image paths (``prefix`` + path relative to ``folder``, sorted) and their stats, empty classes
    included. Folders whose names differ only in Unicode normalisation are one class.
    """
    per_class: dict[str, tuple[list[str], np.ndarray]] = {}
    for class_dir in _subfolders(folder):
        paths, stats = _list_class_folder(str(class_dir), f"{prefix}{class_dir.name}/")
        name = _nfc(class_dir.name)
        if name in per_class:
            paths, stats = _sorted(per_class[name][0] + paths, np.concatenate([per_class[name][1], stats]))
        per_class[name] = paths, stats
    return per_class


def _drop_unreadable(root: Path, per_split: dict[str, dict[str, tuple[list[str], np.ndarray]]],
                     workers: int) -> tuple[dict[str, dict[str, list[str]]], list[tuple[str, str]]]:
    """The image paths of ``per_split`` without files that cannot be decoded (warned about once), and those files.

    The listing goes to the scan index first, so only new or changed files are checked.
    """
    found = [images for per_class in per_split.values() for images in per_class.values()]
    paths = [path for class_paths, _ in found for path in class_paths]
    stats = np.concatenate([class_stats for _, class_stats in found]) if found else np.zeros((0, 3), np.int64)
    index.lookup(root, index.Facts(paths, stats[:, 0].copy(), stats[:, 1].copy(), stats[:, 2].copy()), complete=True)
    rejected = find_unreadable(root, paths, workers=workers)
    bad = {path for path, _ in rejected}
    if rejected:
        warnings.warn(f"{root}: {describe_rejected(rejected, len(paths))}", stacklevel=3)
    kept = {split: {name: [path for path in images if path not in bad] if bad else images
                    for name, (images, _) in per_class.items()} for split, per_class in per_split.items()}
    for split, per_class in kept.items():
        empty = [name for name, images in per_class.items() if not images]
        if empty:
            where = f"{root}/{split}" if split else str(root)
            warnings.warn(f"{where}: class folders without readable images are ignored: {', '.join(empty)}",
                          stacklevel=3)
        for name in empty:
            del per_class[name]
    return kept, rejected


def scan_folder(root: str | Path, workers: int = 0) -> SampleTable:
    """Scan ``root`` into a :class:`SampleTable`; files not in the scan index are checked on ``workers`` processes.

    Raises:
        UserError: the folder is missing or unreadable, or holds fewer than two classes with images.
    """
    root = Path(root)
    if not root.is_dir():
        raise missing_data_folder(root)
    try:
        subfolders = _subfolders(root)
    except PermissionError:
        raise UserError(f"--data: cannot read the folder {root} (permission denied)") from None
    split_dirs = {SPLIT_FOLDERS[p.name.lower()]: p for p in subfolders if p.name.lower() in SPLIT_FOLDERS}
    presplit = "train" in split_dirs and len(split_dirs) == len(subfolders)
    if split_dirs and not presplit:
        names = ", ".join(p.name for p in split_dirs.values())
        warnings.warn(f"{root}: {names} treated as class folders, since the folder also holds "
                      f"{', '.join(p.name for p in subfolders if p not in split_dirs.values())}; for a pre-split "
                      "dataset, put every class folder inside train/ and val/ or test/", stacklevel=2)
    # (listing on worker processes was measured slower on two cores: stat contends in the kernel)
    listed = ({split: _scan_class_folders(folder, f"{folder.name}/") for split, folder in split_dirs.items()}
              if presplit else {"": _scan_class_folders(root)})
    per_split, skipped = _drop_unreadable(root, listed, workers)
    classes = sorted(per_split["train" if presplit else ""])
    if presplit:
        _check_split_classes(root, per_split, classes)
    if len(classes) < 2:
        found = f"found {len(classes)}: {', '.join(classes)}" if classes else "found none"
        raise UserError(f"--data: {root} must hold at least two class folders with images "
                        f"(root/<class>/<image> or root/train/<class>/<image>); {found}")
    return SampleTable(root=root, classes=classes, samples=_table(per_split, classes), skipped=tuple(skipped))


def _table(per_split: dict[str, dict[str, list[str]]], classes: list[str]) -> pd.DataFrame:
    """The samples, one row per image, sorted by path."""
    label = {name: number for number, name in enumerate(classes)}
    parts = [(split, label[name], paths) for split, per_class in per_split.items()
             for name, paths in sorted(per_class.items(), key=lambda item: label[item[0]])]
    counts = [len(paths) for _, _, paths in parts]
    samples = pd.DataFrame({"path": [path for _, _, paths in parts for path in paths],
                            "label": np.repeat(np.array([number for _, number, _ in parts], np.int64), counts),
                            "split": np.repeat(np.array([split for split, _, _ in parts], object), counts)})
    return sort_by_path(samples)


def _check_split_classes(root: Path, per_split: dict[str, dict[str, list[str]]], classes: list[str]) -> None:
    """A class absent from train cannot be learned; one absent from val/test only weakens evaluation."""
    by_folded_name = {name.casefold(): name for name in classes}
    for split, per_class in per_split.items():
        unknown = sorted(set(per_class) - set(classes))
        if unknown:
            named = [f"{name} (train/ has {by_folded_name[name.casefold()]}: names must match exactly)"
                     if name.casefold() in by_folded_name else name for name in unknown]
            raise UserError(f"--data: {root}/{split} has classes that train/ lacks: {', '.join(named)}; "
                            "add training images for them, rename or remove them")
        missing = sorted(set(classes) - set(per_class))
        if missing:
            warnings.warn(f"{root}/{split} has no images of: {', '.join(missing)}; these classes are evaluated "
                          "on the other splits only", stacklevel=3)
