"""predict.py and export: predictions equal the module's own outputs; errors become rows; exports agree."""

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from conftest import REPO, make_class_folder, run_cli, run_main
from litcls.data.datamodule import FolderDataModule
from litcls.data.dataset import load_rgb
from litcls.data.scan import scan_folder
from litcls.data.splits import split_samples
from litcls.data.transforms import Preprocessing, eval_transform
from litcls.errors import UserError
from litcls.inference.export import export_model, max_difference_to_pytorch, read_onnx_metadata
from litcls.inference.onnx_parity import compare_with_predict
from litcls.inference.predictor import find_images, load_checkpoint, predict_images, write_gradcam
from litcls.models.module import ClassifierModule


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint of a cnn trained for a few steps on three colour classes, and the image folder."""
    root = make_class_folder(tmp_path_factory.mktemp("data") / "colours", {"red": 8, "green": 8, "blue": 8})
    scan = scan_folder(root)
    samples = split_samples(scan, val_size=0.25, test_size=0.25, seed=0)
    pre = Preprocessing(img_size=16)
    module = ClassifierModule("cnn", scan.classes, pre.to_dict())
    trainer = L.Trainer(max_steps=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu")
    trainer.fit(module, datamodule=FolderDataModule(root, samples, scan.classes, pre, batch_size=8))
    ckpt = tmp_path_factory.mktemp("ckpt") / "model.ckpt"
    trainer.save_checkpoint(ckpt)
    return ckpt, root


def test_predictions_equal_the_modules_own_outputs(trained):
    ckpt, root = trained
    module = load_checkpoint(ckpt)
    paths = find_images([root])
    table = predict_images(module, paths, batch_size=5, top_k=2)
    assert len(table) == 24 and (table["error"] == "").all()
    transform = eval_transform(module.preprocessing)
    images = torch.stack([transform(image=load_rgb(p, module.preprocessing.img_size))["image"] for p in paths])
    with torch.no_grad():
        expected = torch.softmax(module(images), dim=1)
    best = expected.max(dim=1)
    assert list(table["predicted"]) == [module.class_names[i] for i in best.indices]
    assert table["probability"].to_numpy() == pytest.approx(best.values.numpy(), abs=1e-6)
    assert set(table["top2_class"]) <= set(module.class_names)


def test_an_unreadable_file_becomes_an_error_row(trained, tmp_path):
    ckpt, root = trained
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"definitely not a jpeg")
    good = sorted((root / "red").iterdir())[:2]
    table = predict_images(load_checkpoint(ckpt), [good[0], broken, good[1]], batch_size=2)
    assert list(table["path"]) == [str(good[0]), str(broken), str(good[1])]
    assert table.loc[1, "predicted"] == "" and "UnidentifiedImageError" in table.loc[1, "error"]
    assert (table.loc[[0, 2], "error"] == "").all() and table.loc[[0, 2], "predicted"].all()


def test_gradcam_overlays_for_every_readable_image(trained, tmp_path):
    ckpt, root = trained
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"")
    paths = [*sorted((root / "blue").iterdir())[:3], broken]
    module = load_checkpoint(ckpt)
    table = predict_images(module, paths, batch_size=2)
    overlays = write_gradcam(module, table, tmp_path / "gradcam", batch_size=2)
    assert overlays[3] == "" and all(Path(p).is_file() for p in overlays[:3])
    assert len(list((tmp_path / "gradcam").iterdir())) == 3
    with pytest.raises(UserError, match="--gradcam-layer: no module 'model.nope'"):
        write_gradcam(module, table, tmp_path / "other", layer="model.nope")


def test_torchscript_export_agrees_with_pytorch(trained, tmp_path):
    module = load_checkpoint(trained[0])
    model_file = export_model(module, tmp_path, "torchscript")
    assert (tmp_path / "model.json").is_file()
    for batch in (1, 7):  # the batch dimension is dynamic
        assert max_difference_to_pytorch(module, model_file, torch.randn(batch, 3, 16, 16)) < 1e-4


def write_photo_like(folder: Path) -> list[Path]:
    """Smooth colour gradients with noise, larger than the model's input (300x200 JPEGs and PNGs), plus a few small,
    greyscale and transparent ones: every resize path and decoding path of training."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(12):
        height, width = (200, 300) if i < 8 else (int(rng.integers(5, 40)), int(rng.integers(5, 40)))
        ramp = np.linspace(0, 1, width)[None, :, None] * rng.uniform(0, 255, 3) + \
            np.linspace(1, 0, height)[:, None, None] * rng.uniform(0, 255, 3)
        pixels = np.clip(ramp / 2 + rng.normal(0, 25, (height, width, 3)), 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels).convert(("RGB", "L", "RGBA")[i % 3])
        path = folder / f"photo_{i:02d}_{width}x{height}{'.jpg' if image.mode != 'RGBA' and i % 2 else '.png'}"
        image.save(path, quality=85) if path.suffix == ".jpg" else image.save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def onnx_export(trained, tmp_path_factory):
    """The trained module with a calibration temperature, exported to ONNX once."""
    module = load_checkpoint(trained[0])
    module.decision = {"temperature": 1.7}
    return module, export_model(module, tmp_path_factory.mktemp("onnx"), "onnx")


def test_onnx_on_raw_pixels_agrees_with_predict_on_every_image(trained, onnx_export, tmp_path):
    module, model_file = onnx_export
    for paths in (find_images([trained[1]]), write_photo_like(tmp_path / "photos")):
        result = compare_with_predict(module, model_file, paths)
        assert result["images"] == len(paths) and result["agreement"] == 1.0
        assert result["max_difference"] < 1e-4, dict(zip(result["paths"], result["per_image"], strict=True))
    # the graph's probabilities are the calibrated ones: the model's own differ
    assert compare_with_predict(module, model_file, find_images([trained[1]]), calibrated=False)[
        "max_difference"] > 1e-3


def test_onnx_metadata_round_trips_and_the_example_predicts_from_it(tmp_path):
    paths = write_photo_like(tmp_path / "photos")
    module = ClassifierModule("cnn", ["cat", "dog"], Preprocessing(img_size=16).to_dict()).eval()
    module.decision = {"temperature": 0.8}
    # an operating threshold in the middle of the images' probabilities, so that it decides some of them
    middle = float(predict_images(module, paths)["prob_cat"].median())
    module.decision |= {"positive_class": "cat", "threshold": 0.45, "threshold_calibrated": middle,
                        "threshold_rule": "youden"}
    model_file = export_model(module, tmp_path / "out", "onnx")
    metadata = read_onnx_metadata(model_file)
    assert metadata["class_names"] == ["cat", "dog"]
    assert metadata["decision"] == {"probabilities": "calibrated", "temperature": 0.8, "positive_class": "cat",
                                    "operating_threshold": middle, "rule": metadata["decision"]["rule"],
                                    "threshold": 0.45, "threshold_calibrated": middle, "threshold_rule": "youden"}
    assert metadata["preprocessing"]["img_size"] == 16
    assert metadata["preprocessing"]["mean"] == list(module.preprocessing.mean)
    assert json.loads((tmp_path / "out" / "model.json").read_text())["decision"] == metadata["decision"]
    # the example, with ONNX Runtime and Pillow only, gives predict.py's decisions and probabilities
    script = ("import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__'); "
              "assert 'torch' not in sys.modules, 'the example imported torch'")
    result = subprocess.run([sys.executable, "-c", script, str(REPO / "docs" / "examples" / "onnx_predict.py"),
                             str(model_file), *map(str, paths)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    printed = pd.read_csv(io.StringIO(result.stdout))
    table = predict_images(module, paths)
    assert list(printed["predicted"]) == list(table["predicted_at_threshold"])
    assert set(table["predicted_at_threshold"]) == {"cat", "dog"}
    expected = [row[f"prob_{row['predicted_at_threshold']}"] for _, row in table.iterrows()]
    assert printed["probability"].to_numpy() == pytest.approx(expected, abs=1e-4)  # printed to 6 decimals


def test_checkpoint_with_foreign_objects_is_refused_unless_trusted(trained, tmp_path):
    checkpoint = torch.load(trained[0], weights_only=True)
    checkpoint["extra"] = pd.Timestamp("2020-01-01")  # any non-tensor Python object
    unsafe = tmp_path / "unsafe.ckpt"
    torch.save(checkpoint, unsafe)
    with pytest.raises(UserError, match="--trust-checkpoint"):
        load_checkpoint(unsafe)
    assert load_checkpoint(unsafe, trust=True).class_names == ["blue", "green", "red"]


@pytest.mark.slow
def test_predict_cli_on_class_folders_writes_the_runs_columns_and_accuracy(trained, tmp_path):
    ckpt, root = trained
    (root / "green" / "notes.txt").write_text("not an image")  # ignored: not an image extension
    result = run_main("predict.py", "--ckpt", str(ckpt), "--images", str(root / "green"), str(root / "red"),
                      "--out", "preds", "--tta", "--gradcam", "--no-calibration", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "preds" / "predictions.csv", keep_default_na=False)
    # the run's predictions.csv columns (evaluation/predictions.py), then predict.py's own
    assert list(table.columns) == ["path", "label", "class", "predicted", "probability", "prob_blue", "prob_green",
                                   "prob_red", "loss", "correct", "top1_class", "top1_probability", "top2_class",
                                   "top2_probability", "top3_class", "top3_probability", "error", "gradcam"]
    assert len(table) == 16 and list(table["class"]) == ["green"] * 8 + ["red"] * 8
    assert (table["label"] == table["class"].map({"blue": 0, "green": 1, "red": 2})).all()
    assert (table["correct"] == (table["predicted"] == table["class"])).all()
    # --tta: the mean of the probabilities of the image and of its mirror; loss is -log of the true class's
    module = load_checkpoint(ckpt)
    transform = eval_transform(module.preprocessing)
    images = torch.stack([transform(image=load_rgb(Path(p), 16))["image"] for p in table["path"]])
    with torch.no_grad():
        expected = (torch.softmax(module(images), 1) + torch.softmax(module(images.flip(3)), 1)) / 2
    assert table[["prob_blue", "prob_green", "prob_red"]].to_numpy() == pytest.approx(expected.numpy(), abs=1e-6)
    true = expected[torch.arange(16), torch.tensor(table["label"].to_list())]
    assert table["loss"].to_numpy() == pytest.approx(-torch.log(true).numpy(), abs=1e-5)
    assert f"accuracy {table['correct'].mean():.4f} on 16 images labelled by their folder" in result.stdout
    assert all((tmp_path / path).is_file() for path in table["gradcam"])
    missing = run_cli("predict.py", "--ckpt", str(tmp_path / "nope.ckpt"), "--images", str(root), cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr


def test_unlabelled_images_get_prediction_columns_only(trained, tmp_path, capsys):
    from litcls.cli.predict import main as predict_main

    ckpt, root = trained
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("red", "blue"):  # a folder not named after a class: no label
        shutil.copy(next((root / name).iterdir()), folder / f"{name}.png")
    (folder / "broken.png").write_bytes(b"")
    assert predict_main(["--ckpt", str(ckpt), "--images", str(folder), str(root / "green"), "--out",
                         str(tmp_path / "preds"), "--top-k", "1", "--device", "cpu"]) == 0
    table = pd.read_csv(tmp_path / "preds" / "predictions.csv", keep_default_na=False)
    assert list(table.columns) == ["path", "predicted", "probability", "prob_blue", "prob_green", "prob_red",
                                   "top1_class", "top1_probability", "error"]
    assert len(table) == 11 and table.loc[1, "predicted"] == "" and "broken.png" in table.loc[1, "error"]
    out = capsys.readouterr().out
    assert "accuracy 0" not in out
    assert "no accuracy: 8 of 11 images sit in folders named after the checkpoint's classes" in out
    assert predict_main(["--ckpt", str(ckpt), "--images", str(folder), "--device", "tpu:x"]) == 2
    assert "--device: 'tpu:x' is not one of" in capsys.readouterr().err


@pytest.mark.slow
def test_predict_cli_exports_onnx_and_checks_it_on_the_images(trained, tmp_path):
    ckpt, root = trained
    result = run_main("predict.py", "--ckpt", str(ckpt), "--images", str(root), "--export", "onnx", "--out", "out",
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ONNX Runtime on the decoded pixels of 24 image files agrees with predict.py on 100.0% of decisions" \
        in result.stdout
    assert read_onnx_metadata(tmp_path / "out" / "model.onnx")["class_names"] == ["blue", "green", "red"]
