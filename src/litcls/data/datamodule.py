"""The LightningDataModule over a split sample table; the single source of the class list."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Sampler

from litcls.data.dataset import ImageDataset
from litcls.data.transforms import Preprocessing, eval_transform, train_transform


class FolderDataModule(L.LightningDataModule):
    """Train/val/test loaders over rows of ``samples`` (columns ``path``, ``label``, ``split``).

    Args:
        root: folder the sample paths are relative to.
        samples: the split sample table (see :func:`litcls.data.splits.split_samples`).
        classes: class names; ``label`` indexes into it.
        preprocessing: image size and normalisation shared by every split.
        augment: augmentation preset name or YAML file, applied to the training split only.
        batch_size: images per batch (per device).
        num_workers: loader worker processes.
    """

    def __init__(self, root: str | Path, samples: pd.DataFrame, classes: list[str], preprocessing: Preprocessing,
                 augment: str = "none", batch_size: int = 64, num_workers: int = 0):
        super().__init__()
        self.root = Path(root)
        self.samples = samples
        self.classes = list(classes)
        self.preprocessing = preprocessing
        self.augment = augment
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.datasets: dict[str, ImageDataset] = {}

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> pd.DataFrame:
        return self.samples[self.samples["split"] == name]

    def setup(self, stage: str | None = None) -> None:
        transforms = {"train": train_transform(self.preprocessing, self.augment)}
        # albumentations draws from its own generator, which seed_everything does not reach: seed it from torch
        transforms["train"].set_random_seed(torch.initial_seed() % 2**32)
        for name in ("train", "val", "test"):
            rows = self.split(name)
            transform = transforms.get(name) or eval_transform(self.preprocessing)
            self.datasets[name] = ImageDataset(self.root, rows["path"].tolist(), rows["label"].tolist(), transform)

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        dataset = self.datasets[name]
        sampler = None if shuffle else _exact_eval_sampler(dataset)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            sampler=sampler,
            # a last batch of one image breaks batch norm in training; evaluation keeps every image
            drop_last=shuffle and len(dataset) > self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            worker_init_fn=_seed_augmentation if shuffle else None,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


def _seed_augmentation(worker_id: int) -> None:
    """Reseed a loader worker's copy of the augmentation from torch's per-worker seed (itself drawn from the
    seeded torch generator), so that workers neither repeat each other's augmentations nor depend on chance."""
    info = torch.utils.data.get_worker_info()
    info.dataset.transform.set_random_seed(info.seed % 2**32)


def _exact_eval_sampler(dataset) -> Sampler | None:
    """Under DDP, give each process a disjoint share of the evaluation set, without padding.

    Lightning's default DistributedSampler repeats samples so that every process gets as many, which would
    count some images twice in validation and test metrics. This sampler lets shares differ by one image;
    Lightning keeps a sampler that is already distributed.
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return None
    if torch.distributed.get_world_size() == 1:
        return None
    return UnrepeatedDistributedSampler(dataset, shuffle=False)
