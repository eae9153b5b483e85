"""MixUp and CutMix of training batches (``--mixup``, ``--cutmix``), by torchvision's ``transforms.v2``.

They act on whole batches on the training device, after the albumentations pipeline has made each image a
tensor, and turn the labels into soft targets ``(B, C)`` that the loss takes as they are. With both set, each
batch gets one of the two, chosen with equal probability (timm's default switch). Evaluation batches never pass
through here.
"""

from __future__ import annotations

from typing import Any


def build_mixing(mixup: float, cutmix: float, num_classes: int) -> Any:
    """A callable ``(images, labels) -> (images, soft targets)``, or None when both alphas are 0."""
    if not (mixup or cutmix):
        return None
    from torchvision.transforms import v2

    chosen = []
    if mixup:
        chosen.append(v2.MixUp(alpha=mixup, num_classes=num_classes))
    if cutmix:
        chosen.append(v2.CutMix(alpha=cutmix, num_classes=num_classes))
    return chosen[0] if len(chosen) == 1 else v2.RandomChoice(chosen)
