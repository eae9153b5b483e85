"""The LightningDataModule over a split sample table; the single source of the class list."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Sampler

from litcls.data.balance import sample_weights
from litcls.data.batching import drop_last
from litcls.data.dataset import ImageDataset
from litcls.data.loader import EpochSampler, ResumableLoader, worker_init
from litcls.data.samples import MULTI_LABEL, SINGLE_LABEL, targets_of
from litcls.data.transforms import Preprocessing, eval_transform, seed_augmentation, train_transform


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
        balance: ``sampler`` draws training images with per-class inverse-frequency weights (with
            replacement), so every class is seen about equally often; ``none`` or ``loss`` shuffle.
        seed: seeds the training order of every epoch.
        task: ``multi_label`` gives each image its row of the target columns, a float vector (NaN where
            ignored), so batches hold (B, L) targets; ``single_label`` its class index.
    """

    def __init__(self, root: str | Path, samples: pd.DataFrame, classes: list[str], preprocessing: Preprocessing,
                 augment: str = "none", batch_size: int = 64, num_workers: int = 0, balance: str = "none",
                 seed: int = 0, task: str = SINGLE_LABEL):
        super().__init__()
        self.task = task
        self.root = Path(root)
        self.samples = samples
        self.classes = list(classes)
        self.preprocessing = preprocessing
        self.augment = augment
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.balance = balance
        self.seed = seed
        self.datasets: dict[str, ImageDataset] = {}

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> pd.DataFrame:
        return self.samples[self.samples["split"] == name]

    def _labels(self, rows: pd.DataFrame):
        """The rows' class indices, or their (N, L) float targets in a multi-label task."""
        return targets_of(rows, self.classes) if self.task == MULTI_LABEL else rows["label"].tolist()

    def setup(self, stage: str | None = None) -> None:
        transforms = {"train": train_transform(self.preprocessing, self.augment)}
        seed_augmentation(transforms["train"], self.seed)  # workers reseed their copy: see loader.worker_init
        for name in ("train", "val", "test"):
            rows = self.split(name)
            transform = transforms.get(name) or eval_transform(self.preprocessing)
            self.datasets[name] = ImageDataset(self.root, rows["path"].tolist(), self._labels(rows), transform,
                                               min_size=self.preprocessing.img_size)

    def _loader_options(self) -> dict:
        return {"batch_size": self.batch_size, "num_workers": self.num_workers, "worker_init_fn": worker_init,
                "persistent_workers": self.num_workers > 0, "pin_memory": torch.cuda.is_available()}

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        dataset = self.datasets[name]
        return DataLoader(dataset, shuffle=shuffle, sampler=None if shuffle else exact_eval_sampler(dataset),
                          **self._loader_options())

    def train_dataloader(self) -> DataLoader:
        dataset = self.datasets["train"]
        weights = sample_weights(dataset.labels, self.num_classes) if self.balance == "sampler" else None
        trainer = self.trainer
        sampler = EpochSampler(dataset, seed=self.seed, weights=weights,
                               num_replicas=trainer.world_size if trainer else 1,
                               rank=trainer.global_rank if trainer else 0)
        return ResumableLoader(dataset, sampler, seed=self.seed,
                               drop_last=drop_last(sampler.num_samples, self.batch_size), **self._loader_options())

    def statistics_dataloader(self, max_images: int = 1024) -> DataLoader:
        """Training images with the evaluation transform, each once (this process's share under DDP), for
        recomputing batch-norm statistics (:mod:`litcls.callbacks.precise_bn`).

        A larger training split gives a seeded random ``max_images`` of them (statistics need a few hundred
        images, not all). Decoded in this process: loader workers started anew for each pass cost more than
        decoding a few hundred images here.
        """
        rows = self.split("train")
        if len(rows) > max_images:
            rows = rows.sample(max_images, random_state=self.seed)
        dataset = ImageDataset(self.root, rows["path"].tolist(), self._labels(rows),
                               eval_transform(self.preprocessing), min_size=self.preprocessing.img_size)
        sampler = exact_eval_sampler(dataset)
        share = len(sampler) if sampler is not None else len(dataset)
        return DataLoader(dataset, sampler=sampler, batch_size=self.batch_size,
                          drop_last=drop_last(share, self.batch_size), pin_memory=torch.cuda.is_available())

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


def exact_eval_sampler(dataset) -> Sampler | None:
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
