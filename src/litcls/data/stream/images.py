"""The images of a stream as PyTorch datasets: a split's rows streamed for training (LitData shards, shuffles and
resumes them), and read by index for evaluation (every row exactly once, also under DDP).

A split is a set of rows chosen at train time from ``--seed``, so no chunk holds one split; LitData's
``StreamingDataset.subset(indices)`` restricts the stream to those rows' items (their positions are stored with
the stream, see :mod:`litcls.data.stream.table`) as runs of consecutive items within the chunks, which it then
shuffles, shards over ranks and workers, and checkpoints like any stream. Items not in the split are never read.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from litcls.data.dataset import UnreadableImageError
from litcls.data.decode import load_image
from litcls.data.loader import worker_init
from litcls.data.stream.table import item_fields, item_image
from litcls.data.transforms import seed_augmentation

RUNS_PER_CHUNK_FAST = 4  # a split with at most this many runs of items per chunk streams in POSIX-fast mode


def decode_item(item: tuple[str, bytes], min_size: int | None, channels: int = 3) -> tuple[np.ndarray, dict]:
    """A stored item -> (its image as RGB, or with ``channels=1`` grey, uint8, decoded exactly as a file of the
    folder would be; its fields, see :func:`~litcls.data.stream.table.item_fields`)."""
    fields = item_fields(item)
    try:
        return load_image(io.BytesIO(item_image(item)), min_size, channels), fields
    except Exception as err:
        raise UnreadableImageError(f"cannot decode {fields['path']} (row {fields['row']} of the stream; "
                                   f"{type(err).__name__}: {err})") from err


def as_targets(labels: Sequence[int] | np.ndarray) -> torch.Tensor | None:
    """Multi-label targets, an (N, L) float array (NaN where ignored), as the float32 tensor
    :class:`~litcls.data.dataset.ImageDataset` gives; None for class indices."""
    if isinstance(labels, np.ndarray) and labels.ndim == 2:
        return torch.tensor(labels, dtype=torch.float32)  # a copy: the table may be read-only
    return None


class ItemToTensor:
    """``StreamingDataset(transform=...)``: an item -> (image tensor, label) through the split's pipeline.

    The label is the item's class index, or, multi-label, the row of ``targets`` at the item's row number in the
    stored table (targets are the run's, from its split table; items hold no targets of their own).
    """

    def __init__(self, transform: A.BaseCompose, min_size: int | None, channels: int = 3,
                 targets: np.ndarray | None = None):
        self.transform = transform
        self.min_size = min_size
        self.channels = channels
        self.targets = None if targets is None else as_targets(targets)

    def __call__(self, item: tuple[str, bytes]) -> tuple[torch.Tensor, int | torch.Tensor]:
        image, fields = decode_item(item, self.min_size, self.channels)
        label = int(fields["label"]) if self.targets is None else self.targets[int(fields["row"])]
        return self.transform(image=image)["image"], label


def open_stream(location: str, posix_fast: bool = False, **options: Any):
    """LitData's dataset over the whole stream (a local folder is read in place, a bucket through its cache).

    Items are deserialised one at a time (``batch_decode=0``): LitData's default decodes windows of 256 items for
    items it does not recognise as images, which a split's short runs of items would mostly throw away (3x slower
    on the digits). ``posix_fast`` keeps LitData's POSIX-fast mode (see :func:`training_stream`).
    """
    from litdata import StreamingDataset

    stream = StreamingDataset(location, batch_decode=0, **options)
    if not posix_fast:
        stream.posix_fast = None
    return stream


def training_stream(location: str, positions: Sequence[int], transform: A.BaseCompose, min_size: int | None,
                    seed: int, channels: int = 3, targets: np.ndarray | None = None):
    """The training split's items, shuffled from ``seed`` and the epoch by LitData; multi-label, ``targets`` holds
    each stored row's (see :class:`ItemToTensor`).

    LitData's POSIX-fast mode (chunks memory-mapped in place, the kernel advised about each whole chunk file when it
    is opened) is kept for a split that streams as whole chunks, as the split a stream was laid out for does: without
    it, loader workers that share a chunk read it without a memory map, 4x slower with 2 workers on the bench. A
    split whose items make many short runs (another seed) opens a chunk every few items, each time paying for that
    advice (2.5x slower on the bench), so it reads without the mode.
    """
    stream = open_stream(location, posix_fast=True, shuffle=True, seed=seed,
                         transform=ItemToTensor(transform, min_size, channels, targets))
    split = stream.subset(sorted(int(position) for position in positions))
    if len(split.region_of_interest) > RUNS_PER_CHUNK_FAST * len(stream.subsampled_files):
        split.posix_fast = None
    return split


class StreamRows(Dataset):
    """A split's items read by position (map-style), for evaluation and batch-norm statistics.

    Each process (loader worker) opens its own reader on first use.

    Args:
        location: the stream's folder or bucket URL.
        positions: the items' positions in the stream, in the order the split lists them.
        labels: their class indices (for the callers that read ``dataset.labels``); or, multi-label, an (N, L)
            float array of their targets (NaN where ignored), given as float32 tensors as
            :class:`~litcls.data.dataset.ImageDataset` gives them.
        transform: the split's pipeline.
        min_size: see :func:`litcls.data.decode.load_rgb`.
        channels: 3 decodes to RGB, 1 to grey (``--in-chans``).
    """

    def __init__(self, location: str, positions: Sequence[int], labels: Sequence[int] | np.ndarray,
                 transform: A.BaseCompose, min_size: int | None = None, channels: int = 3):
        self.location = location
        self.positions = [int(position) for position in positions]
        self.targets = as_targets(labels)
        self.labels = [-1] * len(self.positions) if self.targets is not None else [int(label) for label in labels]
        self.transform = transform
        self.min_size = min_size
        self.channels = channels
        self._stream = None

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def multi_label(self) -> bool:
        return self.targets is not None

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int | torch.Tensor]:
        if self._stream is None:
            self._stream = open_stream(self.location)
        image, fields = decode_item(self._stream[self.positions[index]], self.min_size, self.channels)
        label = self.targets[index] if self.targets is not None else int(fields["label"])
        return self.transform(image=image)["image"], label

    def __getstate__(self) -> dict:  # a reader holds open files and threads: each worker opens its own
        return {**self.__dict__, "_stream": None}


def stream_worker_init(worker_id: int) -> None:
    """:func:`litcls.data.loader.worker_init`, then the worker's copy of the training augmentation seeded."""
    worker_init(worker_id)
    info = get_worker_info()
    for step in getattr(info.dataset, "transform", None) or []:
        if isinstance(step, ItemToTensor) and isinstance(step.transform, A.BaseCompose):
            seed_augmentation(step.transform, info.seed % 2**32)
