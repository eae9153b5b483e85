"""Small, messy image folders of the kind a student brings to a first project, generated from a seed, so that
a comparison of training defaults (``bench/monitor_choice.py``) can be repeated image for image.

* ``shapes``: 4 classes of drawn shapes, 25/40/60/120 images, 40-400 px, not square, on noisy backgrounds
  with clutter; JPEG and PNG; some grayscale, some RGBA.
* ``defects``: 2 classes, 120 ``ok`` surfaces and 30 with a ``scratch``, 64-256 px JPEG photos of grain.
* ``textures``: 3 classes of textile-like patterns (``stripes``, ``checks``, ``dots``), 30/40/50 images,
  60-300 px, colours and scales varying within a class.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Rng = np.random.Generator


def _colour(rng: Rng, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(low, high, 3))


def _noisy_background(rng: Rng, width: int, height: int) -> Image.Image:
    """A smooth two-colour gradient plus sensor noise, as a phone photo of paper looks."""
    start, end = np.array(_colour(rng, 120, 256), float), np.array(_colour(rng, 120, 256), float)
    ramp = np.linspace(0, 1, width)[None, :, None]
    pixels = start + (end - start) * ramp + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def _polygon(centre: tuple[float, float], radius: float, corners: int, turn: float,
             inner: float | None = None) -> list[tuple[float, float]]:
    """Corners of a regular polygon (or a star when ``inner`` gives the inner radius as a fraction)."""
    points = []
    steps = corners * 2 if inner else corners
    for k in range(steps):
        r = radius * (inner if inner and k % 2 else 1.0)
        angle = turn + 2 * math.pi * k / steps
        points.append((centre[0] + r * math.cos(angle), centre[1] + r * math.sin(angle)))
    return points


def _shape_image(rng: Rng, shape: str) -> Image.Image:
    width, height = (int(v) for v in rng.integers(40, 401, 2))
    image = _noisy_background(rng, width, height)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(0, 4))):  # clutter: pen strokes across the page
        draw.line([tuple(rng.integers(0, [width, height])) for _ in range(2)], fill=_colour(rng, 60, 200),
                  width=max(1, min(width, height) // 60))
    side = min(width, height)
    radius = side * rng.uniform(0.15, 0.42)
    centre = (rng.uniform(radius, width - radius), rng.uniform(radius, height - radius))
    turn = rng.uniform(0, 2 * math.pi)
    fill = _colour(rng, 0, 160) if rng.random() < 0.8 else None  # some are outlines only
    outline = _colour(rng, 0, 120)
    line = max(1, int(side // 40))
    if shape == "circles":
        squash = rng.uniform(0.8, 1.0)  # hand-drawn circles are not round
        box = [centre[0] - radius, centre[1] - radius * squash, centre[0] + radius, centre[1] + radius * squash]
        draw.ellipse(box, fill=fill, outline=outline, width=line)
    else:
        corners, inner = {"squares": (4, None), "triangles": (3, None), "stars": (5, 0.45)}[shape]
        draw.polygon(_polygon(centre, radius, corners, turn, inner), fill=fill, outline=outline, width=line)
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.2)))


def _save(image: Image.Image, folder: Path, index: int, rng: Rng) -> None:
    """Mixed modes and formats: about 1 in 5 grayscale, 1 in 7 RGBA (PNG), the rest split JPEG / PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    draw = rng.random()
    if draw < 0.2:
        image = image.convert("L")
    elif draw < 0.34:
        image = image.convert("RGBA")
        alpha = np.full(image.size[::-1], 255, np.uint8)
        alpha[: image.size[1] // 8] = 0  # a transparent band, as cut-outs have
        image.putalpha(Image.fromarray(alpha))
    if image.mode == "RGBA" or rng.random() < 0.4:
        image.save(folder / f"img_{index:04d}.png")
    else:
        image.save(folder / f"img_{index:04d}.jpg", quality=int(rng.integers(70, 96)))


def write_shapes(root: Path, seed: int = 0) -> Path:
    """``root/{circles,squares,triangles,stars}/``: 25, 40, 60 and 120 images."""
    rng = np.random.default_rng(seed)
    for shape, count in (("circles", 25), ("squares", 40), ("triangles", 60), ("stars", 120)):
        for index in range(count):
            _save(_shape_image(rng, shape), root / shape, index, rng)
    return root


def _grain(rng: Rng, width: int, height: int) -> np.ndarray:
    """A brushed-metal or wood-like surface: a base colour, streaks along one axis, fine noise."""
    base = np.array(_colour(rng, 90, 200), float)
    streaks = rng.normal(0, 10, (height, 1, 1)) if rng.random() < 0.5 else rng.normal(0, 10, (1, width, 1))
    return base + streaks + rng.normal(0, 9, (height, width, 3))


def _surface_image(rng: Rng, scratched: bool) -> Image.Image:
    width, height = (int(v) for v in rng.integers(64, 257, 2))
    image = Image.fromarray(_grain(rng, width, height).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(0, 3))):  # harmless specks on both classes
        x, y = rng.integers(0, [width, height])
        r = int(rng.integers(1, 4))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=_colour(rng, 40, 120))
    if scratched:
        length = min(width, height) * rng.uniform(0.35, 0.8)
        angle = rng.uniform(0, math.pi)
        x, y = rng.uniform(0.25, 0.75) * width, rng.uniform(0.25, 0.75) * height
        dx, dy = length / 2 * math.cos(angle), length / 2 * math.sin(angle)
        draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=_colour(rng, 20, 70),
                  width=max(2, int(min(width, height) * rng.uniform(0.03, 0.06))))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.0)))


def write_defects(root: Path, seed: int = 0) -> Path:
    """``root/ok/`` (120 surfaces) and ``root/scratch/`` (30 with a dark scratch), JPEG."""
    rng = np.random.default_rng(seed)
    for name, count, scratched in (("ok", 120, False), ("scratch", 30, True)):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            _surface_image(rng, scratched).save(folder / f"IMG_{index:04d}.jpg", quality=int(rng.integers(75, 96)))
    return root


def _texture_image(rng: Rng, pattern: str) -> Image.Image:
    size = int(rng.integers(60, 301))
    ys, xs = np.mgrid[0:size, 0:size].astype(float)
    angle = rng.uniform(0, math.pi)
    u = xs * math.cos(angle) + ys * math.sin(angle)
    v = -xs * math.sin(angle) + ys * math.cos(angle)
    period = size / rng.uniform(3, 9)
    if pattern == "stripes":
        mask = np.sin(2 * math.pi * u / period) > 0
    elif pattern == "checks":
        mask = (np.sin(2 * math.pi * u / period) > 0) ^ (np.sin(2 * math.pi * v / period) > 0)
    else:  # dots on a grid
        du, dv = (u / period) % 1 - 0.5, (v / period) % 1 - 0.5
        mask = du ** 2 + dv ** 2 < rng.uniform(0.04, 0.12)
    first, second = np.array(_colour(rng), float), np.array(_colour(rng), float)
    pixels = np.where(mask[..., None], first, second) + rng.normal(0, 20, (size, size, 3))
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 2.0)))


def write_textures(root: Path, seed: int = 0) -> Path:
    """``root/{stripes,checks,dots}/``: 30, 40 and 50 images."""
    rng = np.random.default_rng(seed)
    for pattern, count in (("stripes", 30), ("checks", 40), ("dots", 50)):
        for index in range(count):
            _save(_texture_image(rng, pattern), root / pattern, index, rng)
    return root


WRITERS: dict[str, Callable[[Path, int], Path]] = {
    "shapes": write_shapes, "defects": write_defects, "textures": write_textures}
