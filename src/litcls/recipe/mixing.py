"""MixUp and CutMix of training batches (``--mixup``, ``--cutmix``), by torchvision's ``transforms.v2`` (multi-label:
by :class:`MultiHotMixing`, since torchvision's mix one class per image).

They act on whole batches on the training device, after the albumentations pipeline has made each image a
tensor, and turn the labels into soft targets ``(B, C)`` that the loss takes as they are. With both set, each
batch gets one of the two, chosen with equal probability (timm's default switch). Evaluation batches never pass
through here.
"""

from __future__ import annotations

from typing import Any

import torch


def build_mixing(mixup: float, cutmix: float, num_classes: int, multi_hot: bool = False) -> Any:
    """A callable ``(images, labels) -> (images, soft targets)``, or None when both alphas are 0. ``multi_hot``:
    the labels are already (B, L) float targets (multi-label), mixed as they are (:class:`MultiHotMixing`)."""
    if not (mixup or cutmix):
        return None
    if multi_hot:
        return MultiHotMixing(mixup or 0.0, cutmix or 0.0)
    from torchvision.transforms import v2

    chosen = []
    if mixup:
        chosen.append(v2.MixUp(alpha=mixup, num_classes=num_classes))
    if cutmix:
        chosen.append(v2.CutMix(alpha=cutmix, num_classes=num_classes))
    return chosen[0] if len(chosen) == 1 else v2.RandomChoice(chosen)


class MultiHotMixing:
    """MixUp or CutMix (one of the two per batch, with equal probability when both are on) of images and their
    multi-hot targets: each image is mixed with its neighbour in the batch (torchvision's pairing), and its target
    becomes ``lam * own + (1 - lam) * neighbour's``, ``lam`` the share of its own pixels. A cell ignored (NaN) in
    either image stays ignored.

    Args:
        mixup, cutmix: Beta-distribution alphas; 0 = off.
    """

    def __init__(self, mixup: float, cutmix: float):
        self.alphas = [(kind, alpha) for kind, alpha in (("mixup", mixup), ("cutmix", cutmix)) if alpha]

    def __call__(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kind, alpha = self.alphas[int(torch.randint(len(self.alphas), ()))]
        lam = float(torch.distributions.Beta(alpha, alpha).sample())
        other = images.roll(1, 0)
        if kind == "mixup":
            images = images * lam + other * (1 - lam)
        else:  # a box of the neighbour's pixels, its area 1 - lam (clipped at the borders: lam recomputed)
            height, width = images.shape[-2:]
            cy, cx = int(torch.randint(height, ())), int(torch.randint(width, ()))
            half_h, half_w = int(height * (1 - lam) ** 0.5 / 2), int(width * (1 - lam) ** 0.5 / 2)
            top, bottom = max(cy - half_h, 0), min(cy + half_h, height)
            left, right = max(cx - half_w, 0), min(cx + half_w, width)
            images = images.clone()
            images[..., top:bottom, left:right] = other[..., top:bottom, left:right]
            lam = 1 - (bottom - top) * (right - left) / (height * width)
        targets = targets.float()
        return images, targets * lam + targets.roll(1, 0) * (1 - lam)
