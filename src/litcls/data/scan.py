"""Scan an image folder into one sample table that everything downstream uses.

Two layouts are accepted:

* class folders: ``root/<class>/**/<image>``
* pre-split: ``root/train/<class>/...`` plus ``val/`` (or ``valid``, ``validation``) and/or ``test/``
"""

from __future__ import annotations

import os
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from litcls.errors import UserError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
SPLIT_FOLDERS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_IGNORED_DIRS = {"__MACOSX", "@eaDir", "$RECYCLE.BIN", "System Volume Information"}


@dataclass(frozen=True)
class FolderScan:
    """Result of a scan.

    Attributes:
        root: the folder that was scanned.
        classes: class names, sorted; a sample's label is an index into this list.
        samples: one row per image with columns ``path`` (relative to root, '/'-separated), ``label``
            and ``split`` (``train``/``val``/``test`` for a pre-split folder, empty otherwise).
    """

    root: Path
    classes: list[str]
    samples: pd.DataFrame

    @property
    def presplit(self) -> bool:
        return bool((self.samples["split"] != "").any())


def is_image(name: str) -> bool:
    """True for a visible file with an image extension, whatever its case (``IMG_001.JPG``)."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _nfc(text: str) -> str:
    # macOS stores names decomposed (NFD); normalising makes class names and sort order machine-independent.
    return unicodedata.normalize("NFC", text)


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
                found.append(_nfc(name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")))
    return sorted(found)


def _scan_class_folders(folder: Path) -> dict[str, list[str]]:
    """Class name -> image paths relative to ``folder``; empty class folders are reported and dropped."""
    per_class, empty = {}, []
    for class_dir in _subfolders(folder):
        images = _images_under(class_dir)
        if images:
            per_class[_nfc(class_dir.name)] = [f"{_nfc(class_dir.name)}/{p}" for p in images]
        else:
            empty.append(_nfc(class_dir.name))
    if empty:
        warnings.warn(f"{folder}: class folders without images are ignored: {', '.join(empty)}", stacklevel=3)
    return per_class


def scan_folder(root: str | Path) -> FolderScan:
    """Scan ``root`` into a :class:`FolderScan`.

    Raises:
        UserError: the folder is missing, or holds fewer than two classes with images.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"--data: no such folder: {root}")
    subfolders = _subfolders(root)
    split_dirs = {SPLIT_FOLDERS[p.name.lower()]: p for p in subfolders if p.name.lower() in SPLIT_FOLDERS}
    presplit = "train" in split_dirs and len(split_dirs) == len(subfolders)
    if presplit:
        per_split = {split: _scan_class_folders(folder) for split, folder in split_dirs.items()}
        classes = sorted(per_split["train"])
        _check_split_classes(root, per_split, classes)
        rows = [(f"{split_dirs[split].name}/{path}", classes.index(name), split)
                for split, per_class in per_split.items() for name, paths in per_class.items() for path in paths]
    else:
        per_class = _scan_class_folders(root)
        classes = sorted(per_class)
        rows = [(path, label, "") for label, name in enumerate(classes) for path in per_class[name]]
    if len(classes) < 2:
        found = f"found {len(classes)}: {', '.join(classes)}" if classes else "found none"
        raise UserError(f"--data: {root} must hold at least two class folders with images "
                        f"(root/<class>/<image> or root/train/<class>/<image>); {found}")
    samples = pd.DataFrame(rows, columns=["path", "label", "split"]).sort_values("path", ignore_index=True)
    return FolderScan(root=root, classes=classes, samples=samples)


def _check_split_classes(root: Path, per_split: dict[str, dict[str, list[str]]], classes: list[str]) -> None:
    """A class absent from train cannot be learned; one absent from val/test only weakens evaluation."""
    for split, per_class in per_split.items():
        unknown = sorted(set(per_class) - set(classes))
        if unknown:
            raise UserError(f"--data: {root}/{split} has classes that train/ lacks: {', '.join(unknown)}; "
                            "add training images for them or remove them")
        missing = sorted(set(classes) - set(per_class))
        if missing:
            warnings.warn(f"{root}/{split} has no images of: {', '.join(missing)}", stacklevel=3)
