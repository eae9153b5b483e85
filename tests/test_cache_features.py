"""--cache-features and --lr-find: the same head gradients as the live frozen backbone, a cache that is reused and
invalidated, complete checkpoints, the finder's files; through the command line on tiny images with staged weights."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from torch import nn

import litcls.runs.lr_find
from conftest import make_class_folder, run_cli, write_images
from litcls.callbacks.freeze_backbone import backbone_modules
from litcls.cli.predict import main as predict_main
from litcls.cli.train import main
from litcls.config import TrainConfig
from litcls.data.feature_datamodule import FeatureDataModule
from litcls.data.transforms import Preprocessing
from litcls.models import get_model_spec
from litcls.models.head_only import HeadOnlyModule, head_inputs
from litcls.models.heads import MLPHead
from litcls.models.module import ClassifierModule
from litcls.models.torchvision_weights import cached_weights_path
from litcls.runs.lr_find import find_lr
from test_pretrained import stage_torchvision_weights

TINY = ["--img-size", "32", "--batch-size", "8", "--num-workers", "0", "--val-size", "0.25", "--test-size", "0.25",
        "--logger", "none", "--gradcam-per-class", "1", "--gradcam-mistakes", "0"]
CACHED = ["--model", "mobilenet_v3_small", "--pretrained", "--freeze-backbone", "--cache-features"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A working directory with staged mobilenet_v3_small weights and an empty feature cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("LITCLS_CACHE", str(tmp_path / "cache"))
    stage_torchvision_weights("mobilenet_v3_small")
    return tmp_path


def results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def test_cached_features_give_the_head_the_gradients_of_the_live_frozen_backbone():
    torch.manual_seed(0)
    module = HeadOnlyModule(model="mobilenet_v3_small", class_names=["a", "b", "c"],
                            preprocessing=Preprocessing(32).to_dict())
    head = "classifier.3"
    images, labels = torch.randn(6, 3, 32, 32), torch.tensor([0, 1, 2, 0, 1, 2])
    module.eval()
    features, _ = head_inputs(module.model, head, images)  # what --cache-features stores
    assert features.shape == (6, 1024)

    def head_gradient(inputs: torch.Tensor) -> list[torch.Tensor]:
        module.train()
        for backbone_module in backbone_modules(module.model, head):  # as BackboneFreeze leaves it
            backbone_module.training = False
        module.zero_grad()
        nn.functional.cross_entropy(module(inputs), labels).backward()
        return [p.grad.clone() for p in module.model.get_submodule(head).parameters()]

    live, cached = head_gradient(images), head_gradient(features)
    for a, b in zip(live, cached, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("argv, message", [
    (["--model", "mobilenet_v3_small", "--pretrained", "--cache-features"], "--cache-features needs --freeze-backbone"),
    (["--freeze-backbone", "--cache-features"], "--cache-features needs --pretrained or --weights"),
    ([*CACHED, "--unfreeze-at-epoch", "2"], "--cache-features and --unfreeze-at-epoch"),
    ([*CACHED, "--plots-every-epoch"], "--cache-features and --plots-every-epoch"),
    ([*CACHED, "--accelerator", "cpu", "--num-nodes", "2", "--strategy", "ddp"], "--cache-features: under torchrun, "
                                                                                "SLURM or several nodes all 2"),
])
def test_cache_features_mistakes_are_one_line_before_any_work(argv, message, home, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (home / "runs").exists() and not (home / "cache").exists()


def test_a_model_that_is_all_head_is_refused_before_extraction(home, image_folder, capsys):
    torch.save(get_model_spec("linear").build(3).state_dict(), home / "linear.pth")
    argv = ["--data", str(image_folder), "--model", "linear", "--weights", str(home / "linear.pth"),
            "--freeze-backbone", "--cache-features", *TINY, "--img-size", "16"]
    assert main(argv) == 2
    assert "model 'linear' has no layer besides its head 'net.1'" in capsys.readouterr().err
    assert not (home / "cache" / "features").exists()  # (the scan index of the folder is there)


def test_an_mlp_head_on_a_model_without_a_separable_head_is_one_line(home, image_folder, capsys):
    assert main(["--data", str(image_folder), "--model", "linear", "--head", "mlp", *TINY, "--img-size", "16"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("error: --head mlp: model 'linear' has no separable head (its head 'net.1' is the whole "
                           "model); use a transfer model such as mobilenet_v3_small or resnet18, or --head linear")


@pytest.mark.slow
def test_cached_run_is_complete_reused_and_invalidated(home, image_folder, capsys):
    data = ["--data", str(image_folder), *CACHED, *TINY, "--epochs", "2"]
    assert main([*data, "--name", "first"]) == 0
    first = results(home / "runs" / "first")
    assert first["cached_features"]["reused"] is False and first["cached_features"]["dim"] == 1024
    assert "feature extraction" in capsys.readouterr().out
    for name in ("confusion_matrix.png", "classification_report.csv", "metrics.csv", "report.html"):
        assert (home / "runs" / "first" / name).is_file(), name
    assert list((home / "runs" / "first" / "gradcam").glob("*.png"))

    # the checkpoint is the whole model: predict.py on the test images agrees with the evaluation's matrix
    ckpt = home / "runs" / "first" / first["best_checkpoint"]
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    assert any(key.startswith("model.features.") for key in state) and "model.classifier.3.weight" in state
    splits = pd.read_csv(home / "runs" / "first" / "splits.csv")
    test = splits[splits["split"] == "test"]
    assert predict_main(["--ckpt", str(ckpt), "--images", *[str(image_folder / p) for p in test["path"]],
                         "--out", "preds", "--device", "cpu"]) == 0
    predicted = pd.read_csv(home / "preds" / "predictions.csv")
    classes = sorted(set(splits["class"]))
    counts = pd.crosstab(pd.Categorical(test["class"].to_numpy(), classes),
                         pd.Categorical(predicted["predicted"].to_numpy(), classes), dropna=False)
    matrix = pd.read_csv(home / "runs" / "first" / "confusion_matrix.csv", index_col=0)
    assert (counts.to_numpy() == matrix.to_numpy()).all()

    assert main([*data, "--name", "again"]) == 0  # same weights, size and table: read from the cache
    assert results(home / "runs" / "again")["cached_features"]["reused"] is True
    assert len(list((home / "cache" / "features").glob("*.pt"))) == 1

    assert main([*data, "--img-size", "48", "--name", "size"]) == 0
    write_images(image_folder / "circle", 1, (0, 0, 0), seed=9, prefix="extra")
    assert main([*data, "--name", "table"]) == 0
    cached = cached_weights_path(get_model_spec("mobilenet_v3_small").pretrained.weights)
    weights = torch.load(cached, weights_only=True)
    weights["features.0.0.weight"] += 0.01  # other weights in torchvision's cache
    torch.save(weights, cached)
    assert main([*data, "--name", "weights"]) == 0
    for name in ("size", "table", "weights"):
        assert results(home / "runs" / name)["cached_features"]["reused"] is False, name
    assert len(list((home / "cache" / "features").glob("*.pt"))) == 4


@pytest.mark.slow
def test_every_fold_of_a_kfold_run_reads_the_features_once_extracted(home, image_folder):
    assert main(["--data", str(image_folder), *CACHED, *TINY, "--epochs", "1", "--folds", "2", "--name", "cv"]) == 0
    reused = [results(home / "runs" / "cv" / f"fold_{fold}")["cached_features"]["reused"] for fold in (0, 1)]
    assert reused == [False, True]
    assert (home / "runs" / "cv" / "cv_results.json").is_file()


@pytest.mark.slow
def test_lr_find_writes_its_files_and_trains_with_its_rate(home, tmp_path, capsys):
    folder = make_class_folder(tmp_path / "shapes", {"circle": 24, "square": 24, "triangle": 24})
    argv = ["--data", str(folder), *CACHED, *TINY, "--epochs", "1", "--lr-find", "--head", "mlp", "--name", "lr"]
    assert main(argv) == 0
    run = home / "runs" / "lr"
    found = results(run)["lr_find"]
    table = pd.read_csv(run / "lr_find.csv")
    assert list(table.columns) == ["lr", "loss"] and len(table) > 11 and (run / "lr_find.png").is_file()
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["lr_find"] is True and found["suggested_lr"] is not None
    assert config["lr"] == found["lr"] == found["suggested_lr"] != 1e-3
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["hyper_parameters"]["lr"] == found["lr"]
    assert ckpt["hyper_parameters"]["head"] == "mlp"  # the dense head of Teachable Machine, on cached features
    module = ClassifierModule.load_from_checkpoint(run / "checkpoints" / "last.ckpt", map_location="cpu")
    assert isinstance(module.model.classifier[3], MLPHead)


@pytest.mark.slow
def test_a_two_process_k_fold_run_finds_each_rate_and_the_features_once(home, image_folder):
    """Fold 0: the first process finds the rate and extracts the features before Lightning starts the second,
    which reads both; fold 1: both processes are running, the first finds the rate and sends it to the other, and
    both read the features from the cache."""
    result = run_cli("train.py", "--data", str(image_folder), *CACHED, *TINY, "--epochs", "1", "--folds", "2",
                     "--lr-find", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--name", "cv",
                     cwd=home)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    # one finder per fold, one extraction (no progress bars off a terminal: counted by their result lines)
    assert output.count("--lr-find: learning rate ") + output.count("--lr-find could not suggest") == 2
    assert output.count(" images embedded in ") == 1
    assert len(list((home / "cache").rglob("*.pt"))) == 1
    for fold in (0, 1):
        run = home / "runs" / "cv" / f"fold_{fold}"
        found, rate = results(run), yaml.safe_load((run / "config.yaml").read_text())["lr"]
        assert found["processes"] == 2 and found["lr_find"]["lr"] == rate and (run / "lr_find.png").is_file()
        assert found["cached_features"]["reused"] is (fold == 1)
        assert f"--lr-find: process 1 trains with {rate:.4g}, the rate the first process found" in output
    splits, oof = (pd.read_csv(home / "runs" / "cv" / name) for name in ("splits.csv", "oof_predictions.csv"))
    assert sorted(oof["path"]) == sorted(splits.loc[splits["split"] == "pool", "path"])  # each pool image once


def test_a_finder_without_a_suggestion_falls_back_to_lr_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(litcls.runs.lr_find, "NUM_TRAINING", 5)  # too few points for Lightning to suggest a rate
    torch.manual_seed(0)
    module = HeadOnlyModule(model="mobilenet_v3_small", class_names=["a", "b"],
                            preprocessing=Preprocessing(32).to_dict())
    splits = {name: (torch.randn(16, 1024), torch.arange(16) % 2) for name in ("train", "val", "test")}
    config = TrainConfig.of(model="mobilenet_v3_small", freeze_backbone=True, lr=0.02, accelerator="cpu")
    with pytest.warns(UserWarning, match="--lr-find could not suggest a learning rate .*training with --lr 0.02"):
        lr, suggested = find_lr(config, module, FeatureDataModule(splits, ["a", "b"], batch_size=4), tmp_path)
    assert (lr, suggested) == (0.02, None)
    assert len(pd.read_csv(tmp_path / "lr_find.csv")) == 5 and (tmp_path / "lr_find.png").is_file()
