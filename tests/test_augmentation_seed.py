"""Augmentation is reproducible from --seed, also in loader workers (albumentations has its own generator)."""

import lightning as L
import pytest
import torch

from conftest import make_class_folder
from litcls.data.datamodule import FolderDataModule
from litcls.data.scan import scan_folder
from litcls.data.splits import split_samples
from litcls.data.transforms import Preprocessing


@pytest.mark.parametrize("workers", [0, 2])
def test_same_seed_same_augmented_batches(tmp_path, workers):
    root = make_class_folder(tmp_path / "d", {"a": 8, "b": 8}, size=8)
    scan = scan_folder(root)
    samples = split_samples(scan, 0.25, 0.0, seed=0)

    def training_images(seed):
        L.seed_everything(seed, workers=True, verbose=False)
        datamodule = FolderDataModule(root, samples, scan.classes, Preprocessing(img_size=8), augment="heavy",
                                      batch_size=2, num_workers=workers)
        datamodule.setup("fit")
        return torch.cat([images for images, _ in datamodule.train_dataloader()])

    first = training_images(seed=3)
    assert torch.equal(first, training_images(seed=3))
    assert not torch.equal(first, training_images(seed=4))
