"""Several checkpoints as one predictor: the folds of a k-fold run, the seeds of a seeds run, or any checkpoints
of the same classes. Their probabilities are averaged with equal weights (:func:`predict_images` given several
modules); each member preprocesses the images its own way."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from litcls.errors import UserError
from litcls.inference.ensemble_calibration import EnsembleDecision, ensemble_decision
from litcls.models.module import ClassifierModule


def member_paths(ckpt_args: Sequence[str | Path]) -> list[Path]:
    """Every ``--ckpt`` as checkpoint files: a k-fold or seeds run folder gives its members' best checkpoints."""
    from litcls.runs.finished_folder import member_checkpoints, resolve_checkpoint

    paths: list[Path] = []
    for arg in ckpt_args:
        check_not_empty_run(Path(arg))
        members = member_checkpoints(arg)
        paths += members if members is not None else [resolve_checkpoint(arg)]
    return paths


def check_not_empty_run(folder: Path) -> None:
    """Refuse a k-fold or seeds run folder that holds no member folder at all, in one line."""
    import yaml

    if not (folder / "config.yaml").is_file() or (folder / "checkpoints").is_dir():
        return
    config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8")) or {}
    kind = ("cross-validation", "fold_*") if (config.get("folds") or 0) >= 2 else \
        ("seeds", "seed_*") if config.get("seeds") else None
    if kind and not any(folder.glob(kind[1])):
        raise UserError(f"--ckpt: {folder} is a {kind[0]} run without any {kind[1]} folder (no member trained "
                        "yet); train it first, or pass another run")


def check_members(members: Sequence[ClassifierModule], paths: Sequence[Path]) -> None:
    """Refuse, in one line, members that do not predict the same classes in the same order.

    Raises:
        UserError: names the first member that differs from the first one.
    """
    first = members[0].class_names
    task = members[0].hparams.get("task", "multiclass")
    for module, path in zip(members[1:], paths[1:], strict=True):
        if module.hparams.get("task", "multiclass") != task:
            raise UserError(f"--ckpt: the members of an ensemble must have one task: {path} is "
                            f"{module.hparams.get('task', 'multiclass')}, {paths[0]} is {task}")
        if module.class_names != first:
            raise UserError(f"--ckpt: the members of an ensemble must predict the same classes in the same order: "
                            f"{path} has {', '.join(module.class_names)}; {paths[0]} has {', '.join(first)}")


def load_members(ckpt_args: Sequence[str | Path], trust: bool = False) -> list[ClassifierModule]:
    """The modules of every ``--ckpt`` (see :func:`member_paths`), checked to form one ensemble."""
    return load_ensemble(ckpt_args, trust)[0]


def load_ensemble(ckpt_args: Sequence[str | Path], trust: bool = False,
                  calibrated: bool = True) -> tuple[list[ClassifierModule], EnsembleDecision | None]:
    """The modules of every ``--ckpt``, checked to form one ensemble, and the ensemble's decision (None for a
    single checkpoint, which applies its own; see :func:`~litcls.inference.ensemble_calibration.ensemble_decision`).
    """
    from litcls.inference.predictor import load_checkpoint

    paths = member_paths(ckpt_args)
    if len(paths) > 1:
        ensemble_decision(ckpt_args, paths, None, calibrated)  # refused before the members load, if at all
    members = [load_checkpoint(path, trust=trust) for path in paths]
    check_members(members, paths)
    if len(members) == 1:
        return members, None
    return members, ensemble_decision(ckpt_args, paths, members[0].class_names, calibrated)
