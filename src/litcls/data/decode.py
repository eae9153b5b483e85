"""Decode any image file PIL can open to an 8-bit RGB array, the one format every pipeline expects (or to one
greyscale channel, for a model trained with ``--in-chans 1``).

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

from litcls.data.image_size import ImageSize

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


def load_image(path: str | Path, min_size: int | ImageSize | None = None, channels: int = 3) -> np.ndarray:
    """Decode an image file as :func:`load_rgb` does, to (H, W, 3) RGB or, with ``channels=1``, (H, W, 1) grey."""
    rgb = load_rgb(path, min_size)
    return rgb if channels == 3 else to_grey(rgb)


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> luma uint8 (H, W, 1), ITU-R 601-2 weights as Pillow's ``convert("L")`` (a grey image
    repeated to RGB comes back unchanged)."""
    return np.asarray(Image.fromarray(rgb).convert("L"))[:, :, None]


def load_rgb(path: str | Path, min_size: int | ImageSize | None = None) -> np.ndarray:
    """Decode an image file to RGB uint8 (H, W, 3), applying the EXIF orientation of phone photos.

    With ``min_size`` (pixels, or (height, width)), a JPEG is decoded at 1/2, 1/4 or 1/8 scale when the result
    still has at least ``min_size`` pixels on each side (libjpeg scales in the DCT domain, an averaging filter):
    a 4000 x 3000 photo bound for 224 px decodes at 500 x 375, several times faster, and the final resize aliases
    less.
    Other formats ignore it.

    Files were checked when the folder was scanned (see :mod:`litcls.data.validate`), including the
    decompression-bomb limit, so PIL's warning for large images is not repeated for every epoch.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            if min_size:
                height, width = (min_size, min_size) if isinstance(min_size, int) else min_size
                image.draft(image.mode, (width, height))
            image.load()
            return to_rgb(_upright(image))


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block says nothing trustworthy about orientation; the pixels are fine
        return image
