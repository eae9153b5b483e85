"""Test-time augmentation (``predict.py --tta POLICY``): each image is predicted as several views, and their
probabilities are averaged (each member's, in an ensemble).

The views are taken of the preprocessed image (after training's resize), so every view has the model's input size:

* ``none``: the image only;
* ``flip``: the image and its horizontal mirror (what ``--tta`` alone means);
* ``flips``: also the vertical mirror (wrong for classes that a vertical flip turns into another: 6 and 9);
* ``shift``: the image and the image shifted by 1/16 of its side up, down, left and right (edge pixels repeated
  into the gap): five views, for classes a mirror changes (digits, letters, road signs);
* ``flip-shift``: ``shift`` and the mirror: six views.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

View = Callable[[torch.Tensor], torch.Tensor]
POLICIES = ("none", "flip", "flips", "shift", "flip-shift")
DEFAULT = "flip"  # ``--tta`` without a policy
SHIFT = 1 / 16  # of the image side, at least one pixel


def identity(image: torch.Tensor) -> torch.Tensor:
    return image


def hflip(image: torch.Tensor) -> torch.Tensor:
    return torch.flip(image, dims=[-1])


def vflip(image: torch.Tensor) -> torch.Tensor:
    return torch.flip(image, dims=[-2])


def shift(dy: int, dx: int) -> View:
    """A view moving the (C, H, W) image by ``dy`` rows and ``dx`` columns, edge pixels repeated into the gap."""

    def shifted(image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        pad = max(abs(dy), abs(dx))
        padded = F.pad(image[None], (pad, pad, pad, pad), mode="replicate")[0]
        top, left = pad - dy, pad - dx
        return padded[..., top:top + height, left:left + width]

    return shifted


def policy_views(policy: str | bool, size: int | tuple[int, int]) -> list[View]:
    """The views of ``policy`` for images of ``size`` (a side, or (height, width): shifts are a share of the shorter
    side); ``True``/``False`` mean ``flip``/``none`` (older callers)."""
    if isinstance(size, (tuple, list)):
        size = min(size)
    if policy is True:
        policy = DEFAULT
    if policy is False or policy is None:
        policy = "none"
    step = max(1, round(size * SHIFT))
    shifts = [shift(-step, 0), shift(step, 0), shift(0, -step), shift(0, step)]
    views = {"none": [identity], "flip": [identity, hflip], "flips": [identity, hflip, vflip],
             "shift": [identity, *shifts], "flip-shift": [identity, hflip, *shifts]}
    if policy not in views:
        raise ValueError(f"unknown TTA policy {policy!r}; valid: {', '.join(POLICIES)}")
    return views[policy]
