"""timm models and a user's own model through train.py and predict.py: staged pretrained weights recorded with
their preprocessing, one run per timm family, refusals in one line before anything is written."""

import json
import sys
import textwrap

import pytest
import torch
import yaml

from conftest import REPO, run_cli
from litcls.cli.predict import main as predict_main
from litcls.cli.train import main
from litcls.inference.predictor import gradcam_overlays, gradcam_target, load_checkpoint
from timm_cache import stage_timm_weights

TINY = ["--img-size", "32", "--batch-size", "8", "--num-workers", "0", "--val-size", "0.25", "--test-size", "0.25",
        "--logger", "none", "--bootstrap", "0", "--gradcam-mistakes", "0"]



def test_pretrained_convnext_trains_predicts_and_exports_with_the_weights_preprocessing(image_folder, hf_home,
                                                                                         tmp_path, capsys):
    staged = stage_timm_weights(hf_home, "test_convnext")
    out = ["--out-dir", str(tmp_path / "runs"), "--name", "cnx"]
    assert main(["--data", str(image_folder), "--model", "timm/test_convnext", "--pretrained", "--freeze-backbone",
                 "--epochs", "1", "--gradcam-per-class", "0", *TINY, *out]) == 0, capsys.readouterr().err
    run = tmp_path / "runs" / "cnx"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["mean"] == [0.5] * 3 and config["std"] == [0.5] * 3 and config["img_size"] == 32
    record = json.loads((run / "results.json").read_text())["starting_weights"]
    assert record["mean"] == [0.5] * 3 and record["interpolation"] == "bicubic" and "test_convnext.r160_in1k" in \
        record["source"]
    checkpoint = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
    hparams = checkpoint["hyper_parameters"]
    assert hparams["preprocessing"] == {"img_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3, "in_chans": 3,
                                        "resize": "squash"}
    assert hparams["starting_weights"] == record
    for key, value in staged.items():  # the frozen backbone is the staged one
        if not key.startswith("head.fc."):
            assert torch.equal(checkpoint["state_dict"][f"model.{key}"], value), key

    assert predict_main(["--ckpt", str(run), "--images", str(image_folder / "circle"), "--out", str(tmp_path / "p"),
                         "--export", "onnx"]) == 0, capsys.readouterr().err
    assert len((tmp_path / "p" / "predictions.csv").read_text().splitlines()) == 13
    assert (tmp_path / "p" / "model.onnx").is_file()  # written only when its parity check passed
    assert "agree" in capsys.readouterr().out


def test_pretrained_vit_trains_a_head_on_cached_features_and_explains_with_a_patch_grid(image_folder, hf_home,
                                                                                        tmp_path, capsys):
    stage_timm_weights(hf_home, "test_vit")
    out = ["--out-dir", str(tmp_path / "runs"), "--name", "vit"]
    assert main(["--data", str(image_folder), "--model", "timm/test_vit", "--pretrained", "--freeze-backbone",
                 "--cache-features", "--epochs", "1", "--gradcam-per-class", "1", *TINY, *out]) == 0, \
        capsys.readouterr().err
    run = tmp_path / "runs" / "vit"
    assert len(list((run / "gradcam").glob("*.png"))) == 3
    module = load_checkpoint(run)
    target = gradcam_target(module)
    assert target.path == "model.blocks.5.norm1"
    images = sorted((image_folder / "square").iterdir())[:2]
    _, overlays = gradcam_overlays(module, target, images, [1, 1])
    assert all(overlay.std() > 1 for overlay in overlays)  # not one flat colour


def test_efficientnet_trains_with_an_mlp_head_precise_bn_and_ema(image_folder, tmp_path, capsys):
    out = ["--out-dir", str(tmp_path / "runs"), "--name", "eff"]
    assert main(["--data", str(image_folder), "--model", "timm/test_efficientnet", "--head", "mlp", "--precise-bn",
                 "on", "--ema", "0.9", "--fast-dev-run", "--gradcam-per-class", "0", *TINY, *out]) == 0, \
        capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--model", "timm/test_convnext", "--pretrained"], "--pretrained: no weights of timm/test_convnext in the "
                                                        "Hugging Face cache"),
    (["--model", "timm/convnxt_tiny"], "timm has no model 'convnxt_tiny' (did you mean convnext_tiny"),
    (["--model", "timm/test_vit", "--img-size", "40"], "--img-size 40: timm/test_vit cuts images into 16x16 px "
                                                       "patches"),
])
def test_timm_mistakes_end_in_one_line_before_anything_is_written(argv, message, image_folder, hf_home, tmp_path,
                                                                  capsys):
    assert main(["--data", str(image_folder), *TINY, *argv, "--out-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_a_users_own_model_trains_and_predicts_by_import_path(image_folder, tmp_path, monkeypatch, capsys):
    package = tmp_path / "lab" / "mynets"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "small.py").write_text(textwrap.dedent('''
        from torch import nn

        def build(num_classes, width=8):
            """Two convolutions and a linear head."""
            return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1),
                                 nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))
    '''))
    monkeypatch.syspath_prepend(str(tmp_path / "lab"))
    out = ["--out-dir", str(tmp_path / "runs"), "--name", "own"]
    assert main(["--data", str(image_folder), "--model", "mynets.small:build", "--epochs", "1",
                 "--gradcam-per-class", "1", *TINY, *out]) == 0, capsys.readouterr().err
    run = tmp_path / "runs" / "own"
    checkpoint = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["model"] == "mynets.small:build"
    assert len(list((run / "gradcam").glob("*.png"))) == 3

    # predict.py in a new process rebuilds the model from the import path in the checkpoint
    env = {"PYTHONPATH": f"{tmp_path / 'lab'}:{REPO / 'src'}"}
    predicted = run_cli("predict.py", "--ckpt", str(run), "--images", str(image_folder / "square"), "--out", "p",
                        cwd=tmp_path, env=env)
    assert predicted.returncode == 0, predicted.stderr
    assert len((tmp_path / "p" / "predictions.csv").read_text().splitlines()) == 13

    monkeypatch.undo()  # the package is no longer importable
    for name in ("mynets", "mynets.small"):
        sys.modules.pop(name, None)
    assert predict_main(["--ckpt", str(run), "--images", str(image_folder / "square"), "--out",
                         str(tmp_path / "q")]) == 2
    err = capsys.readouterr().err
    assert "cannot import mynets.small" in err and "PYTHONPATH" in err and len(err.strip().splitlines()) == 1
