"""A map-style dataset over (path, label) rows: decode to RGB, then one albumentations pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import albumentations as A
import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset


def load_rgb(path: str | Path) -> np.ndarray:
    """Decode any image file to an RGB uint8 array (H, W, 3), applying the EXIF orientation of phone photos."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        return np.asarray(image.convert("RGB"))


class ImageDataset(Dataset):
    """Images listed by path (relative to ``root``) with integer labels.

    Args:
        root: folder the paths are relative to.
        paths: image paths, '/'-separated.
        labels: class index of each image.
        transform: albumentations pipeline ending in ``ToTensorV2``.
    """

    def __init__(self, root: Path, paths: Sequence[str], labels: Sequence[int], transform: A.BaseCompose):
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
        self.root = Path(root)
        self.paths = list(paths)
        self.labels = [int(label) for label in labels]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = load_rgb(self.root / self.paths[index])
        return self.transform(image=image)["image"], self.labels[index]
