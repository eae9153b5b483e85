"""Training's resize written in tensor operations, so an exported graph resizes raw pixels as training did.

Training resizes with albumentations' ``A.Resize(S, S, area_for_downscale="image")`` (see
:mod:`litcls.data.transforms`), i.e. OpenCV's ``cv2.resize`` with

* ``INTER_AREA`` when the image is larger than S on either side: with both sides at least S, every output pixel
  is the mean of the input pixels it covers, weighted by the covered fraction (``resizeArea``); with one side
  smaller, OpenCV's two-tap "area mode" interpolation;
* ``INTER_LINEAR`` otherwise (upscaling): bilinear with half-pixel centres, edges clamped, no antialiasing.

Every one of these is separable: the resized image is ``Wy @ image @ Wx.T`` with an (S, H) and an (S, W) weight
matrix built here from the input's height and width, so one graph serves every input size. ONNX's own ``Resize``
has no area mode (its antialiased linear mode is a triangle filter, not a box), which is why the weights are
written out. The result is rounded to whole 8-bit levels, as OpenCV returns uint8 pixels; OpenCV's fixed-point
arithmetic can still differ by one level on some pixels.
"""

from __future__ import annotations

import torch


def _two_tap(left: torch.Tensor, frac: torch.Tensor, length: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """(S, L) weights ``1 - frac`` on pixel ``left`` and ``frac`` on ``left + 1``, clamped at the edges as OpenCV."""
    before = left < 0
    after = left >= length - 1
    frac = torch.where(before | after, torch.zeros_like(frac), frac)
    left = torch.where(before, torch.zeros_like(left), torch.where(after, length - 1, left))
    return ((1 - frac)[:, None] * (source[None, :] == left[:, None])
            + frac[:, None] * (source[None, :] == left[:, None] + 1))


def linear_weights(source: torch.Tensor, length: torch.Tensor, size: int) -> torch.Tensor:
    """``INTER_LINEAR``: sample at ``(i + 0.5) * L / S - 0.5``."""
    scale = length / size
    position = (torch.arange(size, dtype=torch.float32, device=source.device) + 0.5) * scale - 0.5
    left = torch.floor(position)
    return _two_tap(left, position - left, length, source)


def area_mode_weights(source: torch.Tensor, length: torch.Tensor, size: int) -> torch.Tensor:
    """``INTER_AREA`` when the other side is upscaled: OpenCV's two-tap weights of its "area mode"."""
    scale = length / size
    index = torch.arange(size, dtype=torch.float32, device=source.device)
    left = torch.floor(index * scale)
    frac = (index + 1) - (left + 1) / scale
    frac = torch.where(frac <= 0, torch.zeros_like(frac), frac - torch.floor(frac))
    return _two_tap(left, frac, length, source)


def area_weights(source: torch.Tensor, length: torch.Tensor, size: int) -> torch.Tensor:
    """``INTER_AREA`` shrinking: output pixel i covers ``[i, i + 1) * L / S``; each input pixel weighs the fraction
    of it that is covered, divided by the cover's width."""
    scale = length / size
    start = torch.arange(size, dtype=torch.float32, device=source.device)[:, None] * scale
    overlap = torch.minimum(start + scale, source[None, :] + 1) - torch.maximum(start, source[None, :])
    return overlap.clamp(min=0) / scale


def resize_like_training(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) float pixels in 0..255 -> (N, C, size, size), rounded to whole levels, as training resizes.

    Works for any H and W with static code paths (the method is chosen by ``torch.where``), so it exports with
    dynamic height and width.
    """
    rows = torch.arange(images.shape[2], dtype=torch.float32, device=images.device)
    cols = torch.arange(images.shape[3], dtype=torch.float32, device=images.device)
    height, width = torch.ones_like(rows).sum(), torch.ones_like(cols).sum()  # H and W as tensors
    shrink = (height > size) | (width > size)  # albumentations' test for INTER_AREA
    both_large = (height >= size) & (width >= size)  # OpenCV's test for its box-averaging area resize

    def weights(source: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        area = torch.where(both_large, area_weights(source, length, size), area_mode_weights(source, length, size))
        return torch.where(shrink, area, linear_weights(source, length, size))

    resized = weights(rows, height) @ images @ weights(cols, width).T  # (N, C, size, size)
    return torch.floor(resized + 0.5).clamp(0, 255)
