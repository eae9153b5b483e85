"""Several checkpoints as one predictor: the folds of a k-fold run, the seeds of a seeds run, or any checkpoints
of the same classes. Their probabilities are averaged with equal weights (:func:`predict_images` given several
modules); each member preprocesses the images its own way."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from litcls.errors import UserError
from litcls.models.module import ClassifierModule


def member_paths(ckpt_args: Sequence[str | Path]) -> list[Path]:
    """Every ``--ckpt`` as checkpoint files: a k-fold or seeds run folder gives its members' best checkpoints."""
    from litcls.runs.finished_folder import member_checkpoints, resolve_checkpoint

    paths: list[Path] = []
    for arg in ckpt_args:
        members = member_checkpoints(arg)
        paths += members if members is not None else [resolve_checkpoint(arg)]
    return paths


def check_members(members: Sequence[ClassifierModule], paths: Sequence[Path]) -> None:
    """Refuse, in one line, members that do not predict the same classes in the same order.

    Raises:
        UserError: names the first member that differs from the first one.
    """
    first = members[0].class_names
    for module, path in zip(members[1:], paths[1:], strict=True):
        if module.class_names != first:
            raise UserError(f"--ckpt: the members of an ensemble must predict the same classes in the same order: "
                            f"{path} has {', '.join(module.class_names)}; {paths[0]} has {', '.join(first)}")


def load_members(ckpt_args: Sequence[str | Path], trust: bool = False) -> list[ClassifierModule]:
    """The modules of every ``--ckpt`` (see :func:`member_paths`), checked to form one ensemble."""
    from litcls.inference.predictor import load_checkpoint

    paths = member_paths(ckpt_args)
    members = [load_checkpoint(path, trust=trust) for path in paths]
    check_members(members, paths)
    return members
