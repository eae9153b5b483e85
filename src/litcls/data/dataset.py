"""A map-style dataset over (path, label) rows: decode to RGB, then one albumentations pipeline. A label is a class
index (single-label) or a float vector with one cell per label (multi-label, NaN where ignored)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

from litcls.data.decode import load_rgb
from litcls.errors import UserError

__all__ = ["ImageDataset", "UnreadableImageError", "load_rgb"]


class UnreadableImageError(UserError):
    """An image that passed the folder scan but fails to decode during training.

    Raised inside a DataLoader worker, it reaches the main process rebuilt from the worker's traceback
    text; only the last line, the message itself, is kept so the command line still prints one line.
    """

    def __init__(self, message: str):
        if "Original Traceback" in message:
            message = message.rstrip().splitlines()[-1].split(f"{type(self).__name__}: ", 1)[-1]
        super().__init__(message)


class ImageDataset(Dataset):
    """Images listed by path (relative to ``root``) with integer labels or float targets.

    Args:
        root: folder the paths are relative to.
        paths: image paths, '/'-separated.
        labels: class index of each image; or, multi-label, an (N, L) float array whose row is the image's
            target (1.0, 0.0, NaN for an ignored cell), returned as a float32 tensor of shape (L,).
        transform: albumentations pipeline ending in ``ToTensorV2``.
        min_size: the size the pipeline resizes to; large JPEGs are decoded at a reduced scale down to it
            (see :func:`~litcls.data.decode.load_rgb`).
    """

    def __init__(self, root: Path, paths: Sequence[str], labels: Sequence[int] | np.ndarray,
                 transform: A.BaseCompose, min_size: int | None = None):
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
        self.root = Path(root)
        self.paths = list(paths)
        self.targets = None
        if isinstance(labels, np.ndarray) and labels.ndim == 2:
            self.targets = torch.tensor(labels, dtype=torch.float32)  # a copy: the table may be read-only
            self.labels = [-1] * len(self.paths)  # no single class
        else:
            self.labels = [int(label) for label in labels]
        self.transform = transform
        self.min_size = min_size

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def multi_label(self) -> bool:
        return self.targets is not None

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int | torch.Tensor]:
        path = self.root / self.paths[index]
        try:
            image = load_rgb(path, self.min_size)
        except Exception as err:  # stop the run, naming the file, rather than train on a silently shorter epoch
            raise UnreadableImageError(
                f"cannot decode {path} ({type(err).__name__}: {err}). The folder scan reads headers only, so "
                "this file passed it; replace it with a readable copy and continue with --resume RUN_FOLDER, "
                "or delete it and start a new run") from err
        target = self.targets[index] if self.targets is not None else self.labels[index]
        return self.transform(image=image)["image"], target
