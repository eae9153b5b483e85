"""Small class folders built from scikit-learn's digits, as a student's first folder looks: a few dozen
images per class, mixed sizes (12-96 px), modes (L, RGB, RGBA) and formats (PNG, JPEG), one Korean class name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

CLASS_NAMES = {0: "zero", 1: "one", 2: "두", 3: "three"}


def make_digit_folder(root: Path, classes: int, per_class: int, seed: int = 0) -> Path:
    """``root/<class>/*.png|*.jpg``: ``per_class`` digits of each of the first ``classes`` digit classes."""
    digits = load_digits()
    rng = np.random.default_rng(seed)
    for label in range(classes):
        folder = root / CLASS_NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        picks = rng.choice(np.flatnonzero(digits.target == label), size=per_class, replace=False)
        for i, index in enumerate(picks):
            gray = (digits.images[index] * (255 / 16)).astype(np.uint8)
            size = int(rng.integers(12, 97))
            image = Image.fromarray(gray, "L").resize((size, size), Image.Resampling.BILINEAR)
            mode = ("L", "RGB", "RGBA")[i % 3]
            image = image.convert(mode)
            if i % 2 and mode != "RGBA":
                image.save(folder / f"{label}_{i:03d}.jpg", quality=90)
            else:
                image.save(folder / f"{label}_{i:03d}.png")
    return root
