"""Where ``--data`` and ``--image-root`` point, checked in milliseconds before anything heavy is imported.

A mistyped path should cost a blink, not the seconds it takes to import torch and Lightning, and should say what
was probably meant: a built-in dataset's name (``digit`` -> ``digits``) or a folder beside the one given
(``data/pet`` -> ``data/pets``). Reading the source itself (:mod:`litcls.data.sources`) repeats none of this.
Nothing here imports more than the standard library.
"""

from __future__ import annotations

from pathlib import Path

from litcls.data.builtin import BUILTIN_DATASETS
from litcls.data.stream.location import is_remote
from litcls.errors import UserError
from litcls.suggest import did_you_mean_path

MANIFEST_SUFFIXES = (".csv", ".tsv")


def is_manifest(data: str) -> bool:
    return Path(data).suffix.lower() in MANIFEST_SUFFIXES


def manifest_root(data: str, image_root: str | None) -> Path:
    """The folder a manifest's image paths are relative to: ``--image-root``, else the manifest's folder."""
    return Path(image_root) if image_root else Path(data).parent


def missing_manifest(file: str | Path) -> UserError:
    return UserError(f"--data: no such manifest file: {file}{did_you_mean_path(file)}")


def missing_image_root(root: str | Path, file: str | Path) -> UserError:
    return UserError(f"--image-root: no such folder: {root}, which {Path(file).name}'s image paths are relative "
                     f"to{did_you_mean_path(root)}")


def missing_data_folder(data: str | Path) -> UserError:
    """``--data`` is neither an existing path nor a built-in name: the refusal, with the near matches."""
    data = str(data)
    builtin = ", ".join(BUILTIN_DATASETS)
    if len(Path(data).parts) == 1 and not Path(data).is_absolute():  # a bare name: a folder here or a built-in
        return UserError(f"--data: no such folder or built-in dataset: {data}"
                         f"{did_you_mean_path(data, BUILTIN_DATASETS)}; the built-in datasets are {builtin}")
    return UserError(f"--data: no such folder: {data}{did_you_mean_path(data)}")


def check_source_paths(data: str, image_root: str | None = None) -> None:
    """Refuse a ``--data`` or ``--image-root`` that does not exist, naming the near matches.

    Raises:
        UserError: a missing manifest, image root or folder, or a file that is no manifest.
    """
    path = Path(data)
    if is_remote(data):  # a stream in a bucket: read (and its absence reported) by the stream source
        return
    if is_manifest(data):
        if not path.is_file():
            raise missing_manifest(data)
        root = manifest_root(data, image_root)
        if not root.is_dir():
            raise missing_image_root(root, data)
        return
    if path.is_dir() or data in BUILTIN_DATASETS:
        return
    if path.is_file():
        raise UserError(f"--data: {data} is a file; give a folder of class folders, a manifest ending in "
                        f"{' or '.join(MANIFEST_SUFFIXES)}, or a built-in dataset ({', '.join(BUILTIN_DATASETS)})")
    raise missing_data_folder(data)
