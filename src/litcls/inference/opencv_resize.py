"""Training's resize written in tensor operations, so an exported graph resizes raw pixels as training did.

Training resizes with albumentations (see :mod:`litcls.data.transforms`): ``--resize squash`` is
``A.Resize(H, W, area_for_downscale="image")``; ``pad`` and ``crop`` first scale both sides by one factor
(``LongestMaxSize``/``SmallestMaxSize``: ``min`` or ``max`` of H/h and W/w, sides rounded half to even), then pad
with black or cut the centre (offsets ``(H - h') // 2``). Every resize is OpenCV's ``cv2.resize`` with

* ``INTER_AREA`` when shrinking (squash: the image is larger than the target on either side; pad and crop: the
  factor is below 1): with both sides at least S, every output pixel
  is the mean of the input pixels it covers, weighted by the covered fraction (``resizeArea``); with one side
  smaller, OpenCV's two-tap "area mode" interpolation;
* ``INTER_LINEAR`` otherwise (upscaling): bilinear with half-pixel centres, edges clamped, no antialiasing.

Every one of these is separable, and so are padding and cropping: the result is ``Wy @ image @ Wx.T`` with an
(H, h) and a (W, w) weight matrix built here from the input's height h and width w (a padded row has no weight),
so one graph serves every input size. ONNX's own ``Resize``
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


def _scale(length: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Source pixels per output pixel, computed as OpenCV does (``1 / (size / length)``, not ``length / size``: the
    two differ in the last bit, enough to move 140 * 200 / 224 = 125 to the pixel before)."""
    return 1 / (size / length)


def linear_weights(index: torch.Tensor, source: torch.Tensor, length: torch.Tensor,
                   size: torch.Tensor) -> torch.Tensor:
    """``INTER_LINEAR`` to ``size`` pixels, rows ``index`` of it: sample at ``(i + 0.5) * L / S - 0.5``."""
    position = (index + 0.5) * _scale(length, size) - 0.5
    left = torch.floor(position)
    return _two_tap(left, position - left, length, source)


def area_mode_weights(index: torch.Tensor, source: torch.Tensor, length: torch.Tensor,
                      size: torch.Tensor) -> torch.Tensor:
    """``INTER_AREA`` when the other side is upscaled: OpenCV's two-tap weights of its "area mode"."""
    scale = _scale(length, size)
    left = torch.floor(index * scale)
    frac = (index + 1) - (left + 1) * (size / length)
    frac = torch.where(frac <= 0, torch.zeros_like(frac), frac - torch.floor(frac))
    return _two_tap(left, frac, length, source)


def area_weights(index: torch.Tensor, source: torch.Tensor, length: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """``INTER_AREA`` shrinking: output pixel i covers ``[i, i + 1) * L / S``; each input pixel weighs the fraction
    of it that is covered, divided by the cover's width."""
    scale = _scale(length, size)
    start = index[:, None] * scale
    overlap = torch.minimum(start + scale, source[None, :] + 1) - torch.maximum(start, source[None, :])
    return overlap.clamp(min=0) / scale


def _scaled_size(length: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``max(1, round(length * scale))`` in double precision, as albumentations' ``MaxSizeTransform`` sizes a side
    (round half to even, as Python's ``round``)."""
    return torch.round(length * scale).clamp(min=1)


def resize_like_training(images: torch.Tensor, size: int | tuple[int, int], mode: str = "squash") -> torch.Tensor:
    """(N, C, h, w) float pixels in 0..255 -> (N, C, H, W), rounded to whole levels, as training resizes by ``mode``
    (``squash``, ``pad`` or ``crop``) to ``size`` (H, W; a number is a square).

    Works for any h and w with static code paths (the method is chosen by ``torch.where``), so it exports with
    dynamic height and width.
    """
    out_h, out_w = (size, size) if isinstance(size, int) else size
    # weights in double precision, as OpenCV computes its coefficients: 30 * (200 / 48) is 125 in double and
    # 124.99999 in single precision, which moves a whole column of a 200 -> 48 px resize by one source pixel
    rows = torch.arange(images.shape[2], dtype=torch.float64, device=images.device)
    cols = torch.arange(images.shape[3], dtype=torch.float64, device=images.device)
    height, width = torch.ones_like(rows).sum(), torch.ones_like(cols).sum()  # h and w as tensors
    target_h, target_w = torch.full_like(height, out_h), torch.full_like(width, out_w)
    if mode == "squash":
        new_h, new_w = target_h, target_w
        shrink = (height > out_h) | (width > out_w)  # albumentations' test for INTER_AREA in A.Resize
    else:
        ratios = torch.stack([target_h / height, target_w / width])
        scale = ratios.min() if mode == "pad" else ratios.max()
        new_h, new_w = _scaled_size(height, scale), _scaled_size(width, scale)
        shrink = scale < 1.0  # MaxSizeTransform's test for INTER_AREA
    both_large = (height >= new_h) & (width >= new_w)  # OpenCV's test for its box-averaging area resize

    def weights(source: torch.Tensor, length: torch.Tensor, new: torch.Tensor, out: int) -> torch.Tensor:
        # output pixel i shows pixel i - offset of the image resized to `new` (padding: offset >= 0, a border pixel
        # has none; cropping: offset <= 0)
        offset = torch.floor((out - new) / 2) if mode == "pad" else -torch.floor((new - out) / 2)
        index = torch.arange(out, dtype=torch.float64, device=source.device) - offset
        area = torch.where(both_large, area_weights(index, source, length, new),
                           area_mode_weights(index, source, length, new))
        resized = torch.where(shrink, area, linear_weights(index, source, length, new))
        inside = (index >= 0) & (index < new)
        return (resized * inside[:, None]).float()

    resized = weights(rows, height, new_h, out_h) @ images @ weights(cols, width, new_w, out_w).T  # (N, C, H, W)
    return torch.floor(resized + 0.5).clamp(0, 255)
