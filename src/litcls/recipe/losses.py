"""Training losses by name (``--loss``), each beside the settings it reads.

A loss is one entry of :data:`LOSSES`: a builder ``(weight, label_smoothing, **parameters) -> nn.Module`` and the
parameters it takes, each of which becomes a flag and a YAML key (``focal_gamma`` -> ``--focal-gamma``) with its
default, help and lower bound. Adding a loss is one entry here; the flags, ``config.yaml``, the checks and the
LightningModule follow. Every loss takes hard labels ``(B,)`` or soft targets ``(B, C)`` (MixUp/CutMix), and
composes with ``--balance loss`` (a weight per class) and ``--label-smoothing`` (applied to the targets, hard or
mixed, before the loss). torch is imported only when a loss is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litcls.errors import UserError
from litcls.suggest import did_you_mean


@dataclass(frozen=True)
class LossParameter:
    """A setting a loss reads: the config field (and flag, ``_`` -> ``-``), its default and its help."""

    name: str
    default: float
    help: str
    minimum: float | None = None  # values below it are refused before training


@dataclass(frozen=True)
class Loss:
    """A loss's builder ``(weight: Tensor | None, label_smoothing: float, **parameters) -> nn.Module``."""

    build: Callable[..., Any]
    description: str
    parameters: tuple[LossParameter, ...] = ()


def _cross_entropy(weight: Any, label_smoothing: float) -> Any:
    from torch import nn

    return nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing)


def _focal(weight: Any, label_smoothing: float, focal_gamma: float) -> Any:
    from litcls.recipe.focal import FocalLoss

    return FocalLoss(gamma=focal_gamma, weight=weight, label_smoothing=label_smoothing)


LOSSES: dict[str, Loss] = {
    "ce": Loss(_cross_entropy, "cross-entropy"),
    "focal": Loss(_focal, "Lin et al. 2017; ce at --focal-gamma 0", (
        LossParameter("focal_gamma", 2.0, "with --loss focal: the focusing exponent (0 = cross-entropy)", minimum=0),
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


def build_loss(name: str, weight: list[float] | None = None, label_smoothing: float = 0.0,
               **parameters: float) -> Any:
    """An ``nn.Module`` ``(logits, targets) -> loss``.

    Args:
        name: a key of :data:`LOSSES`.
        weight: optional weight per class.
        label_smoothing: in [0, 1).
        parameters: values of loss parameters by name; those the loss does not declare are ignored (a module
            passes every loss's parameters), those it declares but are missing take their defaults.
    """
    import torch

    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}{did_you_mean(name, LOSSES)}; valid: {', '.join(LOSSES)}")
    loss = LOSSES[name]
    values = {parameter.name: parameters.get(parameter.name, parameter.default) for parameter in loss.parameters}
    tensor = torch.tensor(weight, dtype=torch.float32) if weight else None
    return loss.build(tensor, label_smoothing, **values)
