"""A student's first folder: a few dozen images per class must train to a useful model with default settings."""

import json
import re

import lightning as L
import pytest
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from conftest import make_class_folder, run_cli, run_main
from digit_folders import make_digit_folder
from litcls.callbacks.precise_bn import recompute_statistics, trainable_batch_norms
from litcls.data.batching import auto_batch_size, drop_last, patience_epochs, steps_per_epoch
from litcls.data.datamodule import FolderDataModule
from litcls.data.scan import scan_folder
from litcls.data.splits import split_samples
from litcls.data.transforms import Preprocessing

ADVICE = ("is larger than the training split", "optimizer steps per epoch over", "is designed for",
          "validation predicted")


@pytest.mark.parametrize("train_images, processes, expected", [
    (1257, 1, 64),  # the digits: 20 steps of 64
    (1257, 2, 64),  # 629 images per process: 10 steps
    (168, 1, 16),  # 4 classes x 60 images: 11 steps of 16
    (62, 1, 8),  # 3 x 30: the smallest size, 8 steps
    (5, 1, 8),
])
def test_the_batch_size_gives_small_splits_enough_steps(train_images, processes, expected):
    assert auto_batch_size(train_images, processes) == expected


def test_a_last_partial_batch_is_dropped_only_when_it_holds_one_image():
    assert not drop_last(168, 16) and not drop_last(160, 16) and drop_last(161, 16) and not drop_last(1, 16)
    assert steps_per_epoch(168, 16) == 11 and steps_per_epoch(161, 16) == 10 and steps_per_epoch(1257, 32, 2) == 20
    assert steps_per_epoch(3, 64) == 1


def test_early_stopping_waits_for_fifty_steps():
    assert patience_epochs(5, 20) == 5 and patience_epochs(5, 8) == 7 and patience_epochs(0, 1) == 0


@pytest.mark.parametrize("processes", [1, 2])
def test_every_training_image_is_used_once_per_epoch(tmp_path, processes):
    root = make_class_folder(tmp_path / "data", {"a": 20, "b": 20, "c": 20}, size=8)
    scan = scan_folder(root)
    samples = split_samples(scan, 0.15, 0.15, seed=0)
    train = int((samples["split"] == "train").sum())
    batch = auto_batch_size(train, processes)
    assert train % (batch * processes) not in (0, 1)  # a partial last batch, which must be kept
    seen = []
    for rank in range(processes):
        datamodule = FolderDataModule(root, samples, scan.classes, Preprocessing(8), batch_size=batch)
        datamodule.trainer = type("Shares", (), {"world_size": processes, "global_rank": rank})()
        datamodule.setup("fit")
        loader = datamodule.train_dataloader()
        loader.sampler.set_epoch(3)
        indices = list(loader.sampler)
        images = sum(len(labels) for _, labels in loader)
        assert images == len(indices)
        seen += indices
    assert sorted(set(seen)) == list(range(train)) and len(seen) == train + (-train % processes)


class _ConvBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.frozen = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.BatchNorm2d(4)
        self.frozen.requires_grad_(False)

    def forward(self, x):
        return self.frozen(self.bn(self.conv(x)))

    @property
    def device(self):
        return self.conv.weight.device


def test_precise_bn_sets_the_population_statistics_and_leaves_frozen_layers_alone():
    torch.manual_seed(0)
    model = _ConvBN().eval()
    images = torch.randn(24, 3, 6, 6) * 3 + 1
    loader = DataLoader(TensorDataset(images, torch.zeros(24)), batch_size=8)
    frozen_mean = model.frozen.running_mean.clone()
    layers = trainable_batch_norms(model)
    assert layers == [model.bn]
    recompute_statistics(model, layers, loader, L.Trainer(accelerator="cpu", devices=1, logger=False))
    with torch.no_grad():
        features = model.conv(images)
    batch_vars = torch.stack([features[i:i + 8].var(dim=(0, 2, 3), unbiased=True) for i in (0, 8, 16)])
    torch.testing.assert_close(model.bn.running_mean, features.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(model.bn.running_var, batch_vars.mean(dim=0))
    assert model.bn.momentum == 0.1 and not model.bn.training and torch.equal(model.frozen.running_mean, frozen_mean)


@pytest.fixture(scope="module")
def digit_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("first-folders")
    return make_digit_folder(root / "four", classes=4, per_class=60), make_digit_folder(root / "three", 3, 30)


@pytest.mark.slow
@pytest.mark.parametrize("which, batch, accuracy, own_process", [(0, 16, 0.9, True), (1, 8, 0.8, False)])
def test_small_folders_train_to_a_useful_model_with_default_settings(tmp_path, digit_folders, which, batch, accuracy,
                                                                      own_process):
    args = ("train.py", "--data", str(digit_folders[which]), "--img-size", "32", "--name", "first")
    # the first in a process of its own, with a timeout well above the ~1 min it takes: a process that hangs after
    # training (it once did) fails here; the second in this one (a new Python costs seconds of imports)
    result = run_cli(*args, cwd=tmp_path, timeout=400) if own_process else run_main(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "first"
    results = json.loads((run / "results.json").read_text())
    assert results["test/acc"] >= accuracy, results
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["batch_size"] == batch and config["img_size"] == 32  # the sizes used, not null
    output = result.stdout + result.stderr
    assert re.search(rf"batch size {batch} per process, chosen for \d+ training images", output)
    assert "batch-norm statistics are recomputed over the training split" in output  # 11 and 8 steps per epoch
    assert not [advice for advice in ADVICE if advice in output], output


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "64"], r"--batch-size 64 is larger than the training split \(24 images\): every epoch is a "
                             r"single optimizer step; leave --batch-size out to choose 8"),
    (["--batch-size", "16"], r"--batch-size 16 gives 2 optimizer steps per epoch over 24 training images"),
    (["--model", "resnet50", "--img-size", "16"], r"--img-size 16 is 14x below the 224 px --model resnet50"),
])
def test_settings_that_do_not_fit_the_data_are_named_with_the_fix(image_folder, tmp_path, args, message):
    result = run_main("train.py", "--data", str(image_folder), "--fast-dev-run", "--num-workers", "0", *args,
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(message, result.stderr), result.stderr
    assert sum(advice in result.stderr for advice in ADVICE) == 1


@pytest.mark.slow
def test_validation_collapsed_to_one_class_is_reported(tmp_path, digit_folders):
    """The issue's first run: batch 64 on 168 images without precise BN predicts one class on validation."""
    result = run_main("train.py", "--data", str(digit_folders[0]), "--img-size", "32", "--batch-size", "64",
                      "--precise-bn", "off", "--epochs", "4", "--patience", "0", "--num-workers", "0",
                      "--gradcam-per-class", "0", "--gradcam-mistakes", "0", "--logger", "none", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"epoch \d: validation predicted '[^']+' for all 36 images while training accuracy is",
                     result.stderr), result.stderr
    assert result.stderr.count("validation predicted") == 1
