"""Training losses by name (``--loss``).

Both take hard labels ``(B,)`` or soft targets ``(B, C)`` (MixUp/CutMix), and compose with ``--balance loss``
(a weight per class) and ``--label-smoothing`` (applied to the targets, hard or mixed, before the loss).
"""

from __future__ import annotations

from typing import Any

from litcls.suggest import did_you_mean

LOSSES = ("ce", "focal")


def build_loss(name: str, weight: list[float] | None = None, label_smoothing: float = 0.0,
               focal_gamma: float = 2.0) -> Any:
    """An ``nn.Module`` ``(logits, targets) -> loss``.

    Args:
        name: ``ce`` (torch's cross-entropy) or ``focal`` (:class:`litcls.recipe.focal.FocalLoss`; equal to
            ``ce`` at ``focal_gamma`` 0).
        weight: optional weight per class.
        label_smoothing: in [0, 1).
        focal_gamma: the focal exponent; larger values down-weight well-classified images more.
    """
    import torch
    from torch import nn

    tensor = torch.tensor(weight, dtype=torch.float32) if weight else None
    if name == "ce":
        return nn.CrossEntropyLoss(weight=tensor, label_smoothing=label_smoothing)
    if name == "focal":
        from litcls.recipe.focal import FocalLoss

        return FocalLoss(gamma=focal_gamma, weight=tensor, label_smoothing=label_smoothing)
    raise ValueError(f"unknown loss {name!r}{did_you_mean(name, LOSSES)}; valid: {', '.join(LOSSES)}")
