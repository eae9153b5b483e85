"""Decode any image file PIL can open to an 8-bit RGB array, the one format every pipeline expects.

``Image.convert("RGB")`` alone gets several modes wrong: it drops transparency onto whatever colour the
hidden pixels happen to hold, and clips 16-bit and float greyscale to 255 (a 12-bit X-ray turns white, a
float image in [0, 1] turns black). Here transparent images are composited on white, as viewers show
them, and high-bit-depth greyscale is rescaled from its own minimum and maximum.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

BACKGROUND = (255, 255, 255)
# I;16 (and its byte orders), 32-bit integer and 32-bit float greyscale: more than 8 bits per pixel.
_HIGH_BIT_DEPTH_MODES = ("I", "F")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def to_rgb(image: Image.Image, background: tuple[int, int, int] = BACKGROUND) -> np.ndarray:
    """Convert a decoded PIL image of any mode to an RGB uint8 array of shape (H, W, 3)."""
    if image.mode.startswith(_HIGH_BIT_DEPTH_MODES):
        grey = _stretch_to_uint8(np.asarray(image))
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        if image.mode == "La":  # premultiplied alpha: PIL converts it to RGBA only through LA
            image = image.convert("LA")
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        return np.asarray(Image.alpha_composite(canvas, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def _stretch_to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Map an image's own value range onto 0..255; the bit depth a sensor really used is not recorded."""
    values = np.nan_to_num(pixels.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = values.min(), values.max()
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.round((values - low) * (255.0 / (high - low))).astype(np.uint8)


def load_rgb(path: str | Path, min_size: int | None = None) -> np.ndarray:
    """Decode an image file to RGB uint8 (H, W, 3), applying the EXIF orientation of phone photos.

    With ``min_size``, a JPEG is decoded at 1/2, 1/4 or 1/8 scale when the result still has at least
    ``min_size`` pixels on each side (libjpeg scales in the DCT domain, an averaging filter): a 4000 x 3000
    photo bound for 224 px decodes at 500 x 375, several times faster, and the final resize aliases less.
    Other formats ignore it.

    Files were checked when the folder was scanned (see :mod:`litcls.data.validate`), including the
    decompression-bomb limit, so PIL's warning for large images is not repeated for every epoch.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            if min_size:
                image.draft(image.mode, (min_size, min_size))
            image.load()
            return to_rgb(_upright(image))


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block says nothing trustworthy about orientation; the pixels are fine
        return image
