"""Scan an image folder into one sample table that everything downstream uses.

Two layouts are accepted:

* class folders: ``root/<class>/**/<image>``
* pre-split: ``root/train/<class>/...`` plus ``val/`` (or ``valid``, ``validation``) and/or ``test/``

Hidden files and folders (``.DS_Store``, AppleDouble ``._*`` files), ``__MACOSX`` and other system folders,
and files without an image extension (``Thumbs.db``, ``desktop.ini``, notes) are ignored. Image files that
cannot be decoded are skipped with one warning (see :mod:`litcls.data.validate`).
"""

from __future__ import annotations

import os
import unicodedata
import warnings
from pathlib import Path

import pandas as pd

from litcls.data.samples import SampleTable
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


def sort_by_path(samples: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by path, compared in NFC form, so a copy of the folder made on a Mac splits the same."""
    return samples.sort_values("path", key=lambda paths: paths.map(_nfc), ignore_index=True, kind="stable")


def _subfolders(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                   and p.name not in _IGNORED_DIRS), key=lambda p: _nfc(p.name))


def _images_under(folder: Path) -> list[str]:
    """Image paths under ``folder`` (recursively), relative to it, '/'-separated and sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in _IGNORED_DIRS]
        rel_dir = os.path.relpath(dirpath, folder)
        for name in filenames:
            if is_image(name):
                found.append(name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/"))
    return sorted(found, key=_nfc)


def _scan_class_folders(folder: Path, prefix: str = "") -> dict[str, list[str]]:
    """Class name -> image paths (``prefix`` + path relative to ``folder``), empty classes included.

    Folders whose names differ only in Unicode normalisation are one class.
    """
    per_class: dict[str, list[str]] = {}
    for class_dir in _subfolders(folder):
        images = [f"{prefix}{class_dir.name}/{path}" for path in _images_under(class_dir)]
        per_class.setdefault(_nfc(class_dir.name), []).extend(images)
    return per_class


def _drop_unreadable(root: Path, per_split: dict[str, dict[str, list[str]]]) -> list[tuple[str, str]]:
    """Remove files that cannot be decoded from ``per_split`` (in place), warn once, and return them."""
    paths = [path for per_class in per_split.values() for images in per_class.values() for path in images]
    rejected = find_unreadable(root, paths)
    if rejected:
        warnings.warn(f"{root}: {describe_rejected(rejected, len(paths))}", stacklevel=3)
        bad = {path for path, _ in rejected}
        for per_class in per_split.values():
            for name, images in per_class.items():
                per_class[name] = [path for path in images if path not in bad]
    for split, per_class in per_split.items():
        empty = [name for name, images in per_class.items() if not images]
        if empty:
            where = f"{root}/{split}" if split else str(root)
            warnings.warn(f"{where}: class folders without readable images are ignored: {', '.join(empty)}",
                          stacklevel=3)
        for name in empty:
            del per_class[name]
    return rejected


def scan_folder(root: str | Path) -> SampleTable:
    """Scan ``root`` into a :class:`SampleTable`.

    Raises:
        UserError: the folder is missing or unreadable, or holds fewer than two classes with images.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"--data: no such folder: {root}")
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
    if presplit:
        per_split = {split: _scan_class_folders(folder, f"{folder.name}/") for split, folder in split_dirs.items()}
        skipped = _drop_unreadable(root, per_split)
        classes = sorted(per_split["train"])
        _check_split_classes(root, per_split, classes)
        rows = [(path, classes.index(name), split)
                for split, per_class in per_split.items() for name, paths in per_class.items() for path in paths]
    else:
        per_split = {"": _scan_class_folders(root)}
        skipped = _drop_unreadable(root, per_split)
        classes = sorted(per_split[""])
        rows = [(path, label, "") for label, name in enumerate(classes) for path in per_split[""][name]]
    if len(classes) < 2:
        found = f"found {len(classes)}: {', '.join(classes)}" if classes else "found none"
        raise UserError(f"--data: {root} must hold at least two class folders with images "
                        f"(root/<class>/<image> or root/train/<class>/<image>); {found}")
    samples = sort_by_path(pd.DataFrame(rows, columns=["path", "label", "split"]))
    return SampleTable(root=root, classes=classes, samples=samples, skipped=tuple(skipped))


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
