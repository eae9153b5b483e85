"""A LightningDataModule over cached backbone features: (feature, label) batches for training the head alone."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from litcls.data.balance import sample_weights
from litcls.data.batching import drop_last
from litcls.data.datamodule import exact_eval_sampler
from litcls.data.loader import EpochSampler, ResumableLoader


class FeatureDataModule(L.LightningDataModule):
    """Train/val/test loaders over tensors of features, one row per image of the split.

    Batching follows :class:`~litcls.data.datamodule.FolderDataModule`: the same batch size, the same seeded
    order of training examples, the last training batch dropped only when it would hold one example, and
    ``balance="sampler"`` draws classes equally often; under DDP each process trains on its share and evaluates
    its part of the validation split, each example once.

    Args:
        splits: split name -> (features ``(N, D)``, labels ``(N,)``).
        classes: class names; labels index into it.
        batch_size: examples per batch.
        balance: ``sampler`` draws with per-class inverse-frequency weights; anything else shuffles.
        seed: seeds the training order.
    """

    def __init__(self, splits: dict[str, tuple[torch.Tensor, torch.Tensor]], classes: list[str], batch_size: int,
                 balance: str = "none", seed: int = 0):
        super().__init__()
        self.datasets = {name: TensorDataset(features, labels) for name, (features, labels) in splits.items()}
        self.classes = list(classes)
        self.batch_size = batch_size
        self.balance = balance
        self.seed = seed

    def train_dataloader(self) -> DataLoader:
        # the image datamodule's sampler and loader: the same order per epoch from the same seed (so a cached run
        # repeats the uncached frozen run's steps), and a position in the epoch that a resumed run continues from
        dataset = self.datasets["train"]
        labels = dataset.tensors[1].tolist()
        weights = sample_weights(labels, len(self.classes)) if self.balance == "sampler" else None
        trainer = self.trainer
        sampler = EpochSampler(dataset, seed=self.seed, weights=weights,
                               num_replicas=trainer.world_size if trainer else 1,
                               rank=trainer.global_rank if trainer else 0)
        return ResumableLoader(dataset, sampler, seed=self.seed, batch_size=self.batch_size,
                               drop_last=drop_last(sampler.num_samples, self.batch_size))

    def val_dataloader(self) -> DataLoader:
        return self._evaluation_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._evaluation_loader("test")

    def _evaluation_loader(self, split: str) -> DataLoader:
        dataset = self.datasets[split]
        return DataLoader(dataset, batch_size=self.batch_size, sampler=exact_eval_sampler(dataset))
