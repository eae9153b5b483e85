"""Image sizes as users write them (``32``, ``"48x64"``: height x width) and as the code holds them, (height, width).

A plain number is a square, so configs and checkpoints written before sizes could be non-square still read.
Imports nothing heavy: the command line checks ``--img-size`` before torch loads.
"""

from __future__ import annotations

ImageSize = tuple[int, int]  # (height, width) in pixels


def parse_image_size(value: object) -> ImageSize:
    """``32``, ``"32"``, ``"48x64"`` or ``(48, 64)`` -> (height, width); ValueError says what is wrong."""
    if isinstance(value, bool):
        raise ValueError("not a size")
    if isinstance(value, (tuple, list)) and len(value) == 2:
        parts = list(value)
    elif isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        parts = [int(value), int(value)]
    elif isinstance(value, str):
        text = value.strip().lower()
        parts = text.split("x") if "x" in text else [text, text]
        if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
            raise ValueError("give one number of pixels (32) or height x width (48x64)")
    else:
        raise ValueError("give one number of pixels (32) or height x width (48x64)")
    height, width = (int(part) for part in parts)
    if height < 1 or width < 1:
        raise ValueError("height and width must be at least 1 pixel")
    return height, width


def format_image_size(size: ImageSize) -> int | str:
    """(32, 32) -> 32 (a square stays the plain number it always was); (48, 64) -> ``"48x64"``."""
    height, width = size
    return height if height == width else f"{height}x{width}"
