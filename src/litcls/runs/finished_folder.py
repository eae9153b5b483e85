"""Reading a finished run folder: its best checkpoint and its held-out images (``predict.py``, ``demo.py``).

Only the standard library and PyYAML at import, so a wrong ``--ckpt`` is reported before torch loads.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from litcls.errors import UserError
from litcls.suggest import did_you_mean_path

BEST = Path("checkpoints") / "best.ckpt"


def resolve_checkpoint(path: str | Path) -> Path:
    """``--ckpt`` as given: a checkpoint file as is, a run folder as its ``checkpoints/best.ckpt``.

    Raises:
        UserError: nothing at ``path``, or a folder that holds no best checkpoint (for a k-fold run's top
            folder, the message points to its ``fold_<i>/`` folders).
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise UserError(f"--ckpt: no such file or run folder: {path}{did_you_mean_path(path)}")
    if (path / BEST).is_file():
        return path / BEST
    if (path / "fold_0").is_dir():
        raise UserError(f"--ckpt: {path} is a cross-validation run; pass one fold's folder, e.g. {path / 'fold_0'}")
    raise UserError(f"--ckpt: {path} has no {BEST.as_posix()}; pass a run folder written by train.py or a .ckpt file")


def member_checkpoints(path: str | Path) -> list[Path] | None:
    """The best checkpoints of a k-fold run's ``fold_<i>/`` or a seeds run's ``seed_<s>/`` folders, in order; None
    when ``path`` is neither kind of run folder.

    Raises:
        UserError: such a run folder without a single finished member.
    """
    path = Path(path)
    if not path.is_dir():
        return None
    for kind, pattern in (("cross-validation", "fold_*"), ("seeds", "seed_*")):
        members = sorted((folder for folder in path.glob(pattern) if folder.name.split("_")[1].isdigit()),
                         key=lambda folder: int(folder.name.split("_")[1]))
        if members:
            found = [folder / BEST for folder in members if (folder / BEST).is_file()]
            if not found:
                raise UserError(f"--ckpt: {path} is a {kind} run without a finished member (no "
                                f"{pattern}/{BEST.as_posix()}); train it first")
            return found
    return None


def run_folder_of(ckpt_arg: str | Path, checkpoint: Path) -> Path | None:
    """The run folder that ``--ckpt`` names or whose ``checkpoints/`` holds the checkpoint, None if neither."""
    folder = Path(ckpt_arg) if Path(ckpt_arg).is_dir() else checkpoint.parent.parent
    return folder if (folder / "splits.csv").is_file() and (folder / "config.yaml").is_file() else None


def data_root(run_dir: Path) -> Path | None:
    """The folder the paths of a run's ``splits.csv`` are relative to: ``data`` in its ``config.yaml`` (relative to
    where training started), a manifest's image root, or ``$LITCLS_DATA_HOME/<name>`` for a built-in dataset."""
    from litcls.data.builtin import BUILTIN_DATASETS, data_home
    from litcls.data.manifest import is_manifest, manifest_root

    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    data = str(config.get("data", ""))
    if not data:
        return None
    root = manifest_root(data, config.get("image_root")) if is_manifest(data) else Path(data)
    return data_home() / data if not root.is_dir() and data in BUILTIN_DATASETS else root


def held_out_images(run_dir: Path, limit: int) -> tuple[list[tuple[Path, str]], str]:
    """Up to ``limit`` test images of the run (validation images without a test split), the classes in turn.

    ``splits.csv`` paths are relative to the run's data folder (``data`` in ``config.yaml``, relative to where
    training started; a built-in dataset's name means ``$LITCLS_DATA_HOME/<name>``).

    Returns:
        (image file, true class) pairs, and why there are none ('' when there are some).
    """
    import pandas as pd

    root = data_root(run_dir)
    if root is None or not root.is_dir():
        return [], f"the run's data folder {str(root or '')!r} is not found from {Path.cwd()}"
    splits = pd.read_csv(run_dir / "splits.csv", encoding="utf-8", keep_default_na=False,
                         dtype={"path": str, "class": str, "split": str})
    split = "test" if (splits["split"] == "test").any() else "val"
    rows = splits[(splits["split"] == split) & splits["path"].map(lambda path: (root / path).is_file())]
    # the k-th image of every class before the (k+1)-th of any: a few examples still cover the classes
    rows = rows.assign(rank=rows.groupby("label").cumcount()).sort_values(["rank", "label"], kind="stable")
    chosen = [(root / path, name) for path, name in zip(rows["path"][:limit], rows["class"][:limit], strict=True)]
    return chosen, "" if chosen else f"none of the run's {split} images is in {root}"
