"""Softmax focal loss (Lin et al., "Focal Loss for Dense Object Detection", 2017, eq. 5, for C classes).

``loss_i = -sum_c w_c t_ic (1 - p_ic)^gamma log p_ic`` over the (smoothed) targets ``t``; reduced as torch's
``cross_entropy`` reduces, so that gamma 0 gives exactly ``nn.CrossEntropyLoss`` with the same weight and
smoothing: hard labels divide by the summed weight of the batch's labels, soft targets by the batch size.
torchvision's ``sigmoid_focal_loss`` is the one-vs-rest variant, which would not match cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FocalLoss(nn.Module):
    """Focal loss for hard labels ``(B,)`` or soft targets ``(B, C)``."""

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        self.gamma = gamma
        self.label_smoothing = label_smoothing
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        classes = logits.shape[1]
        log_p = F.log_softmax(logits.float(), dim=1)
        hard = targets.dim() == 1
        t = F.one_hot(targets, classes).float() if hard else targets.float()
        if self.label_smoothing:
            t = t * (1 - self.label_smoothing) + self.label_smoothing / classes
        focal = (1 - log_p.exp()).pow(self.gamma) * log_p  # (B, C)
        w = self.weight if self.weight is not None else torch.ones(classes, device=logits.device)
        per_image = -(t * focal * w).sum(dim=1)  # (B,)
        denominator = w[targets].sum() if hard else torch.tensor(float(len(targets)), device=logits.device)
        return per_image.sum() / denominator
