"""The datamodule of a run on a stream: the folder datamodule with its images read from LitData chunks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from litcls.data.datamodule import FolderDataModule
from litcls.data.samples import MULTI_LABEL, targets_of
from litcls.data.stream.images import StreamRows, stream_worker_init, training_stream
from litcls.data.stream.table import read_table
from litcls.data.transforms import Preprocessing, seed_augmentation, train_transform


class StreamDataModule(FolderDataModule):
    """:class:`~litcls.data.datamodule.FolderDataModule` over a stream written by ``python -m litcls.stream``.

    The split table is the same as the folder's; where each image is in the stream comes from the table stored
    with it (read again here, so a resumed run, whose table comes from ``splits.csv``, finds its images too).
    Training streams through ``StreamingDataLoader``: LitData shuffles per epoch from the seed, shards across DDP
    ranks and nodes (dropping the few rows that do not divide evenly), and its state, saved in every checkpoint,
    resumes an epoch where it stopped. Validation and test read their rows by index,
    so every image is evaluated exactly once, as for a folder. A multi-label run's targets come from its split
    table, as a folder's do, found for each streamed item by its row number in the stored table.

    Args:
        location: the stream's folder or bucket URL.
        samples: the split sample table.
        **kwargs: see :class:`~litcls.data.datamodule.FolderDataModule`.
    """

    def __init__(self, location: str, samples: pd.DataFrame, classes: list[str], preprocessing: Preprocessing,
                 **kwargs):
        super().__init__(location, samples, classes, preprocessing, **kwargs)
        self.location = location
        self.position_of: dict[str, int] = {}
        self.row_of: dict[str, int] = {}

    def setup(self, stage: str | None = None) -> None:
        if not self.position_of:
            stored = read_table(self.location)
            paths = stored.table.samples["path"]
            self.position_of = dict(zip(paths, stored.positions, strict=True))
            self.row_of = {path: row for row, path in enumerate(paths)}
        super().setup(stage)

    def positions(self, rows: pd.DataFrame) -> list[int]:
        return [self.position_of[path] for path in rows["path"]]

    def images(self, rows: pd.DataFrame, transform) -> Dataset:
        return StreamRows(self.location, self.positions(rows), self._labels(rows), transform,
                          min_size=self.preprocessing.img_size, channels=self.preprocessing.in_chans)

    def targets_by_row(self, rows: pd.DataFrame) -> np.ndarray | None:
        """Multi-label: an (stored rows, labels) array holding ``rows``' targets at their rows in the stored table
        (NaN elsewhere; those items are not streamed); None for a single-label run."""
        if self.task != MULTI_LABEL:
            return None
        targets = np.full((len(self.row_of), self.num_classes), np.nan, dtype=np.float32)
        targets[[self.row_of[path] for path in rows["path"]]] = targets_of(rows, self.classes)
        return targets

    def train_dataloader(self):
        from litdata import StreamingDataLoader

        transform = train_transform(self.preprocessing, self.augment)
        seed_augmentation(transform, self.seed)
        rows = self.split("train")
        stream = training_stream(self.location, self.positions(rows), transform, self.preprocessing.img_size,
                                 self.seed, self.preprocessing.in_chans, self.targets_by_row(rows))
        return StreamingDataLoader(stream, batch_size=self.batch_size, num_workers=self.num_workers,
                                   worker_init_fn=stream_worker_init, pin_memory=torch.cuda.is_available(),
                                   generator=torch.Generator().manual_seed(self.seed))
