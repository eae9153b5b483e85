"""Multi-label losses on (B, L) logits and float targets (1, 0, a mixed share in between, NaN = ignored).

Both average over the known cells only, so an ignored cell (an uncertain finding, a label not mentioned) adds
nothing to the loss or its gradient. ``pos_weight`` (one per label, ``--balance loss``) multiplies the positive
term, as in torch's ``BCEWithLogitsLoss``.

The asymmetric loss (Ridnik et al., "Asymmetric Loss For Multi-Label Classification", ICCV 2021, eq. 6-7) lowers
the weight of easy negatives, which dominate when each label is rare: the negative term is focused by
``(p_m)^gamma_neg`` and its probability shifted down by ``clip`` (``p_m = max(p - clip, 0)``: very easy negatives
add nothing), the positive term by ``(1 - p)^gamma_pos``. With both gammas and the clip at 0 it is the binary
cross-entropy, which a test checks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _masked_mean(losses: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean of ``losses`` over the cells whose target is known; 0 (with a gradient) when none is."""
    known = ~targets.isnan()
    return (losses * known).sum() / known.sum().clamp(min=1)


class MaskedBCEWithLogits(nn.Module):
    """Binary cross-entropy per label on logits, averaged over the known cells.

    Args:
        pos_weight: optional (L,) weight of each label's positive term.
        label_smoothing: targets move towards 1/2 by this share.
    """

    def __init__(self, pos_weight: torch.Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = label_smoothing
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        t = targets.float().nan_to_num(0.0) * (1 - self.label_smoothing) + self.label_smoothing / 2
        losses = F.binary_cross_entropy_with_logits(logits.float(), t, pos_weight=self.pos_weight, reduction="none")
        return _masked_mean(losses, targets)


class AsymmetricLoss(nn.Module):
    """The asymmetric loss per label on logits, averaged over the known cells (see the module docstring).

    Args:
        gamma_neg: focusing exponent of the negative term.
        gamma_pos: focusing exponent of the positive term.
        clip: probability margin subtracted from negatives' probabilities (0 = none).
        pos_weight: optional (L,) weight of each label's positive term.
        label_smoothing: targets move towards 1/2 by this share.
    """

    def __init__(self, gamma_neg: float = 4.0, gamma_pos: float = 0.0, clip: float = 0.05,
                 pos_weight: torch.Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        self.gamma_neg, self.gamma_pos, self.clip = gamma_neg, gamma_pos, clip
        self.label_smoothing = label_smoothing
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x = logits.float()
        t = targets.float().nan_to_num(0.0) * (1 - self.label_smoothing) + self.label_smoothing / 2
        p = torch.sigmoid(x)
        log_p = F.logsigmoid(x)  # log p, stable for large |x|
        if self.clip:
            p_neg = (p - self.clip).clamp(min=0)
            log_not_p = torch.log((1 - p_neg).clamp(min=1e-8))
        else:
            p_neg, log_not_p = p, F.logsigmoid(-x)  # log(1 - p), stable
        positive = log_p * (1 - p).pow(self.gamma_pos) if self.gamma_pos else log_p
        negative = log_not_p * p_neg.pow(self.gamma_neg) if self.gamma_neg else log_not_p
        if self.pos_weight is not None:
            positive = positive * self.pos_weight
        return _masked_mean(-(t * positive + (1 - t) * negative), targets)
