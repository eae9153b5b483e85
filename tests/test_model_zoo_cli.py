"""The model zoo through the command line: every model on the digits, pretrained weights, freezing, offline."""

import json

import pytest
import torch

from conftest import run_main
from litcls.cli.train import main
from litcls.models import get_model_spec, list_models
from test_pretrained import stage_torchvision_weights

TINY = ["--batch-size", "8", "--num-workers", "0", "--val-size", "0.25", "--test-size", "0.25", "--logger", "none"]


@pytest.fixture(scope="module")
def digits_home(tmp_path_factory):
    return tmp_path_factory.mktemp("data_home")


@pytest.mark.slow
@pytest.mark.parametrize("name", [spec.name for spec in list_models()])
def test_every_model_trains_on_the_digits_with_fast_dev_run(name, digits_home, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LITCLS_DATA_HOME", str(digits_home))
    code = main(["--model", name, "--img-size", "32", "--fast-dev-run", "--out-dir", str(tmp_path), "--name", name,
                 *TINY])
    assert code == 0, capsys.readouterr().err
    results = json.loads((tmp_path / name / "results.json").read_text())
    assert 0 <= results["test/acc"] <= 1


@pytest.mark.slow
def test_pretrained_mobilenet_trains_its_head_on_staged_weights(image_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    staged = stage_torchvision_weights("mobilenet_v3_small")
    result = run_main("train.py", "--data", str(image_folder), "--model", "mobilenet_v3_small", "--pretrained",
                      "--freeze-backbone", "--epochs", "1", "--name", "tl", *TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ("starting weights: torchvision MobileNet_V3_Small_Weights.IMAGENET1K_V1 (242 tensors, head "
            "'classifier.3' initialised for 3 classes)") in result.stdout + result.stderr
    checkpoint = torch.load(tmp_path / "runs" / "tl" / "checkpoints" / "last.ckpt", weights_only=True)
    transforms = get_model_spec("mobilenet_v3_small").pretrained.weights.transforms()
    assert checkpoint["hyper_parameters"]["preprocessing"] == {"img_size": 224, "mean": transforms.mean,
                                                               "std": transforms.std, "in_chans": 3,
                                                               "resize": "squash"}
    trained = {key.removeprefix("model."): value for key, value in checkpoint["state_dict"].items()}
    for key, value in staged.items():  # after training, the backbone (batch-norm statistics included) is intact
        if not key.startswith("classifier.3."):
            assert torch.equal(trained[key], value), key


def test_a_missing_download_ends_in_one_clear_line(image_folder, tmp_path, monkeypatch):
    """An empty cache and a download that fails at once: a proxy on a closed local port."""
    proxy = "http://127.0.0.1:9"
    for name, value in {"TORCH_HOME": str(tmp_path / "empty_cache"), "https_proxy": proxy, "HTTPS_PROXY": proxy,
                        "no_proxy": "", "NO_PROXY": "", "NO_ALBUMENTATIONS_UPDATE": "1"}.items():
        monkeypatch.setenv(name, value)
    result = run_main("train.py", "--data", str(image_folder), "--model", "mobilenet_v3_small", "--pretrained",
                      cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    expected = tmp_path / "empty_cache" / "hub" / "checkpoints" / "mobilenet_v3_small-047dcff4.pth"
    assert ("error: --pretrained: the ImageNet weights of mobilenet_v3_small are not in torchvision's cache and "
            "could not be downloaded") in result.stderr
    assert (f"Download https://download.pytorch.org/models/mobilenet_v3_small-047dcff4.pth where a network exists "
            f"and save it as {expected}") in result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("argv, message", [
    (["--unfreeze-at-epoch", "2"], "--unfreeze-at-epoch needs --freeze-backbone"),
    (["--freeze-backbone", "--unfreeze-at-epoch", "5", "--epochs", "5"], "--unfreeze-at-epoch must be between 1 "
                                                                        "and --epochs - 1 (4), got 5"),
    (["--pretrained", "--weights", "x.pth"], "--pretrained and --weights both set the starting weights"),
    (["--weights", "missing.pth"], "--weights: no such file: missing.pth"),
    (["--model", "resnet20", "--pretrained"], "model 'resnet20' has no pretrained weights; models that have: "),
    (["--backbone-lr-ratio", "0"], r"--backbone-lr-ratio must be in (0, 1], got 0.0"),
    # refused before the launch; a backbone frozen under DDP is checked by the k-fold DDP run in test_crossval.py
    (["--freeze-backbone", "--unfreeze-at-epoch", "1", "--epochs", "2", "--accelerator", "cpu", "--devices", "2",
      "--strategy", "ddp"], "error: --unfreeze-at-epoch needs a single process"),
])
def test_transfer_learning_mistakes_are_explained_before_training(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
