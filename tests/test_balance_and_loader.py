"""--balance and the resumable training order: class weights, seeded epochs, DDP shares, mid-epoch resume."""

from collections import Counter

import numpy as np
import pytest
import torch

from conftest import make_class_folder
from litcls.data.balance import class_weights, imbalance_hint, sample_weights
from litcls.data.datamodule import FolderDataModule
from litcls.data.loader import EpochSampler, ResumableLoader
from litcls.data.scan import scan_folder
from litcls.data.splits import split_samples
from litcls.data.transforms import Preprocessing
from litcls.models.module import ClassifierModule


def test_class_weights_are_inverse_frequency():
    labels = [0] * 8 + [1] * 2
    assert class_weights(labels, 3) == [0.625, 2.5, 0.0]  # n / (classes * count); absent class: 0
    assert sample_weights(labels, 2) == [0.625] * 8 + [2.5] * 2


def test_imbalance_hint_from_ratio_ten():
    classes = ["common", "rare"]
    assert imbalance_hint([0] * 9 + [1], classes) is None
    hint = imbalance_hint([0] * 10 + [1], classes)
    assert "common has 10 images, rare 1 (10x)" in hint and "--balance sampler" in hint


def test_weighted_sampler_sees_rare_classes_as_often_as_common_ones():
    labels = [0] * 95 + [1] * 5
    sampler = EpochSampler(range(100), seed=3, weights=sample_weights(labels, 2))
    drawn = []
    for epoch in range(20):
        sampler.set_epoch(epoch)
        indices = list(sampler)
        assert len(indices) == 100
        drawn += [labels[i] for i in indices]
    assert Counter(drawn)[1] / len(drawn) == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("weights", [None, [1.0] * 50 + [9.0] * 10])
def test_epoch_order_depends_on_seed_and_epoch_only(weights):
    def order(seed, epoch):
        sampler = EpochSampler(range(60), seed=seed, weights=weights)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert order(1, 4) == order(1, 4)
    assert order(1, 4) != order(1, 5) and order(1, 4) != order(2, 4)


def test_ddp_shares_are_disjoint_and_cover_the_data():
    shares = []
    for rank in range(2):
        sampler = EpochSampler(range(10), seed=0, num_replicas=2, rank=rank)
        sampler.set_epoch(3)
        shares.append(list(sampler))
    assert len(shares[0]) == len(shares[1]) == 5
    assert sorted(shares[0] + shares[1]) == list(range(10))


def test_loader_resumes_mid_epoch_with_the_batches_that_were_left():
    dataset = torch.utils.data.TensorDataset(torch.arange(20))

    def loader():
        return ResumableLoader(dataset, EpochSampler(dataset, seed=5), seed=5, batch_size=3, drop_last=True)

    full = loader()
    full.sampler.set_epoch(2)
    expected = [batch[0].tolist() for batch in full]
    assert len(expected) == 6

    interrupted = loader()
    interrupted.sampler.set_epoch(2)
    seen = []
    for batch in interrupted:
        seen.append(batch[0].tolist())
        if len(seen) == 2:
            break
    state = interrupted.state_dict()
    assert state == {"epoch": 2, "batches": 2}

    resumed = loader()
    resumed.load_state_dict(state)
    resumed.sampler.set_epoch(2)
    rest = [batch[0].tolist() for batch in resumed]
    assert seen + rest == expected
    assert resumed.state_dict() == {"epoch": 2, "batches": 6}

    resumed.sampler.set_epoch(3)  # the state applies to its own epoch only
    assert len([batch for batch in resumed]) == 6


def test_balance_sampler_in_the_datamodule(tmp_path):
    scan = scan_folder(make_class_folder(tmp_path, {"common": 40, "rare": 4}, size=4))
    samples = split_samples(scan, val_size=0.25, test_size=0.0, seed=0)
    datamodule = FolderDataModule(scan.root, samples, scan.classes, Preprocessing(img_size=4), batch_size=8,
                                  balance="sampler", seed=0)
    datamodule.setup("fit")
    labels = []
    for epoch in range(10):
        loader = datamodule.train_dataloader()
        loader.sampler.set_epoch(epoch)
        labels += [label for _, batch_labels in loader for label in batch_labels.tolist()]
    assert Counter(labels)[1] / len(labels) == pytest.approx(0.5, abs=0.08)  # 3 of 33 train images are rare


def test_balance_loss_weighs_training_loss_only():
    module = ClassifierModule(model="linear", class_names=["a", "b"], preprocessing=Preprocessing(4).to_dict(),
                              class_weights=[0.5, 3.0])
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    per_sample = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    weights = torch.tensor([0.5, 3.0, 3.0])
    expected = (per_sample * weights).sum() / weights.sum()
    assert module.train_criterion(logits, labels).item() == pytest.approx(expected.item())
    assert module.criterion(logits, labels).item() == pytest.approx(per_sample.mean().item())
    assert np.allclose(module.hparams.class_weights, [0.5, 3.0])  # travels in the checkpoint


def test_balance_loss_run_stores_the_class_weights_with_the_model(tmp_path, monkeypatch):
    from litcls.cli.train import main

    data = make_class_folder(tmp_path / "data", {"common": 24, "rare": 4}, size=8)
    monkeypatch.chdir(tmp_path)
    assert main(["--data", str(data), "--model", "linear", "--img-size", "8", "--epochs", "1", "--num-workers", "0",
                 "--val-size", "0.25", "--test-size", "0", "--balance", "loss", "--name", "weighted"]) == 0
    checkpoint = torch.load(tmp_path / "runs/weighted/checkpoints/best.ckpt", weights_only=True)
    # 18 common and 3 rare training images: 21 / (2 * count)
    assert checkpoint["hyper_parameters"]["class_weights"] == pytest.approx([21 / 36, 21 / 6])


class SignalsItself(torch.utils.data.Dataset):
    """Every item sends SIGINT and SIGTERM to the worker process loading it, as Ctrl+C or a scheduler would."""

    def __len__(self):
        return 6

    def __getitem__(self, index):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        return index


def test_loader_workers_leave_signals_to_the_main_process():
    from litcls.data.loader import worker_init

    loader = torch.utils.data.DataLoader(SignalsItself(), batch_size=2, num_workers=2, worker_init_fn=worker_init)
    assert sorted(int(i) for batch in loader for i in batch) == list(range(6))  # no worker died
