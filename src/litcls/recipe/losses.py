"""Training losses by name (``--loss``), each beside the settings it reads.

A loss is one entry of :data:`LOSSES`: a builder per task (:mod:`litcls.tasks`) ``(weight, label_smoothing,
**parameters) -> nn.Module`` and the parameters it takes, each of which becomes a flag and a YAML key
(``focal_gamma`` -> ``--focal-gamma``) with its default, help and lower bound. Adding a loss is one entry here; the
flags, ``config.yaml``, the checks and the LightningModule follow. A single-label loss takes hard labels ``(B,)`` or
soft targets ``(B, C)`` (MixUp/CutMix) and composes with ``--balance loss`` (a weight per class); a multi-label loss
takes float targets ``(B, L)`` with NaN where a cell is ignored, and ``--balance loss`` weighs each label's
positives. ``--label-smoothing`` applies to the targets, hard or mixed, before the loss. torch is imported only when
a loss is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litcls.errors import UserError
from litcls.suggest import did_you_mean
from litcls.tasks import MULTI_LABEL as MULTI
from litcls.tasks import SINGLE_LABEL as SINGLE


@dataclass(frozen=True)
class LossParameter:
    """A setting a loss reads: the config field (and flag, ``_`` -> ``-``), its default and its help."""

    name: str
    default: float
    help: str
    minimum: float | None = None  # values below it are refused before training


@dataclass(frozen=True)
class Loss:
    """A loss's builder ``(weight: Tensor | None, label_smoothing: float, **parameters) -> nn.Module``, or one per
    task name (a single builder is single-label's); ``weight`` is per class (single-label) or each label's positive
    weight (multi-label)."""

    build: Callable[..., Any] | dict[str, Callable[..., Any]]
    description: str
    parameters: tuple[LossParameter, ...] = ()

    @property
    def builders(self) -> dict[str, Callable[..., Any]]:
        return self.build if isinstance(self.build, dict) else {SINGLE: self.build}


def _cross_entropy(weight: Any, label_smoothing: float) -> Any:
    from torch import nn

    return nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing)


def _focal(weight: Any, label_smoothing: float, focal_gamma: float) -> Any:
    from litcls.recipe.focal import FocalLoss

    return FocalLoss(gamma=focal_gamma, weight=weight, label_smoothing=label_smoothing)


def _binary_cross_entropy(weight: Any, label_smoothing: float) -> Any:
    from litcls.recipe.multilabel_losses import MaskedBCEWithLogits

    return MaskedBCEWithLogits(pos_weight=weight, label_smoothing=label_smoothing)


def _sigmoid_focal(weight: Any, label_smoothing: float, focal_gamma: float) -> Any:
    from litcls.recipe.multilabel_losses import AsymmetricLoss

    return AsymmetricLoss(focal_gamma, focal_gamma, 0.0, pos_weight=weight, label_smoothing=label_smoothing)


def _asymmetric(weight: Any, label_smoothing: float, asl_gamma_neg: float, asl_gamma_pos: float,
                asl_clip: float) -> Any:
    from litcls.recipe.multilabel_losses import AsymmetricLoss

    return AsymmetricLoss(asl_gamma_neg, asl_gamma_pos, asl_clip, pos_weight=weight, label_smoothing=label_smoothing)


LOSSES: dict[str, Loss] = {
    "ce": Loss({SINGLE: _cross_entropy, MULTI: _binary_cross_entropy},
               "cross-entropy; multi-label: binary cross-entropy per label"),
    "focal": Loss({SINGLE: _focal, MULTI: _sigmoid_focal}, "Lin et al. 2017; ce at --focal-gamma 0", (
        LossParameter("focal_gamma", 2.0, "with --loss focal: the focusing exponent (0 = cross-entropy)", minimum=0),
    )),
    "asl": Loss({MULTI: _asymmetric}, "multi-label: asymmetric loss, Ridnik et al. 2021; ce at gammas and clip 0", (
        LossParameter("asl_gamma_neg", 4.0, "with --loss asl: focusing exponent of the negatives", minimum=0),
        LossParameter("asl_gamma_pos", 0.0, "with --loss asl: focusing exponent of the positives", minimum=0),
        LossParameter("asl_clip", 0.05, "with --loss asl: probability margin below which a negative adds nothing",
                      minimum=0),
    )),
}


def loss_parameters() -> list[LossParameter]:
    """The parameters of every loss, in registry order: the configuration has one field for each."""
    return [parameter for loss in LOSSES.values() for parameter in loss.parameters]


def check_loss_parameters(settings: object) -> None:
    """Refuse a loss parameter below its minimum (``settings``: any object with the fields, a ``TrainConfig``)."""
    for parameter in loss_parameters():
        value = getattr(settings, parameter.name)
        if parameter.minimum is not None and value < parameter.minimum:
            raise UserError(f"--{parameter.name.replace('_', '-')} must be {parameter.minimum:g} or more, got {value}")


def build_loss(name: str, weight: list[float] | None = None, label_smoothing: float = 0.0, task: str = SINGLE,
               **parameters: float) -> Any:
    """An ``nn.Module`` ``(logits, targets) -> loss``.

    Args:
        name: a key of :data:`LOSSES`.
        weight: optional weight per class (single-label) or positive weight per label (multi-label).
        label_smoothing: in [0, 1).
        parameters: values of loss parameters by name; those the loss does not declare are ignored (a module
            passes every loss's parameters), those it declares but are missing take their defaults.
        task: the task's name; a loss without a builder for it is refused.

    Raises:
        UserError: the loss does not fit the task.
    """
    import torch

    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}{did_you_mean(name, LOSSES)}; valid: {', '.join(LOSSES)}")
    loss = LOSSES[name]
    if task not in loss.builders:
        fitting = [other for other, entry in LOSSES.items() if task in entry.builders]
        raise UserError(f"--loss {name}: not for a {task.replace('_', '-')} task; valid: {', '.join(fitting)}")
    values = {parameter.name: parameters.get(parameter.name, parameter.default) for parameter in loss.parameters}
    tensor = torch.tensor(weight, dtype=torch.float32) if weight else None
    return loss.builders[task](tensor, label_smoothing, **values)
