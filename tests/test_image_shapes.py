"""Grey and non-square images (``--in-chans 1``, ``--img-size HxW``, ``--resize``) on real image files: the three
resize rules, grey decoding, every registered model, and train.py -> predict.py -> the ONNX export end to end."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
import yaml
from PIL import Image

from conftest import run_cli, run_main
from litcls.data.decode import load_image, load_rgb
from litcls.data.image_size import format_image_size, parse_image_size
from litcls.data.transforms import Preprocessing, eval_transform
from litcls.inference.export import read_onnx_metadata
from litcls.models import build_model, list_models
from litcls.models.pretrained import adapted_to

GREEN, RED, BLUE = (0, 255, 0), (255, 0, 0), (0, 0, 255)


def wide_file(path):
    """20 x 40 px: a green strip 4 px wide on the left, red to the middle, blue on the right."""
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, :4], pixels[:, 4:20], pixels[:, 20:] = GREEN, RED, BLUE
    Image.fromarray(pixels).save(path)
    return path


def shown(path, mode: str) -> np.ndarray:
    """The file as the model sees it at 16 x 16 by ``mode``, back in 0..255 RGB (H, W, 3)."""
    pre = Preprocessing((16, 16), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), resize=mode)
    image = eval_transform(pre)(image=load_image(path, pre.img_size))["image"]
    return np.round(image.permute(1, 2, 0).numpy() * 255)


def test_squash_stretches_the_whole_file(tmp_path):
    image = shown(wide_file(tmp_path / "wide.png"), "squash")
    assert image.shape == (16, 16, 3)
    assert image[:, 0].tolist() == [[0, 255, 0]] * 16  # the strip is kept, narrowed with the rest
    assert image[:, 15].tolist() == [[0, 0, 255]] * 16


def test_pad_keeps_the_aspect_ratio_with_a_black_border(tmp_path):
    image = shown(wide_file(tmp_path / "wide.png"), "pad")
    # 20 x 40 -> 8 x 16, centred: rows 0-3 and 12-15 are the border
    assert not image[:4].any() and not image[12:].any()
    assert image[4:12, 15].tolist() == [[0, 0, 255]] * 8
    assert image[4:12, 0, 1].min() > 0  # the green strip, 1.6 px wide after the resize, is still there


def test_crop_fits_the_short_side_and_cuts_the_centre(tmp_path):
    image = shown(wide_file(tmp_path / "wide.png"), "crop")
    # 20 x 40 -> 16 x 32, columns 8-23 kept: the green strip (columns 0-6 after the resize) is cut away
    assert image[:, :8].tolist() == [[[255, 0, 0]] * 8] * 16
    assert image[:, 8:].tolist() == [[[0, 0, 255]] * 8] * 16


def test_grey_decoding_is_pillows_luma(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)).save(path)
    grey = load_image(path, channels=1)
    assert grey.shape == (30, 50, 1)
    assert np.array_equal(grey[:, :, 0], np.asarray(Image.fromarray(load_rgb(path)).convert("L")))
    pre = Preprocessing("12x16").with_input(1, "squash")
    assert eval_transform(pre)(image=grey)["image"].shape == (1, 12, 16)


def test_sizes_parse_and_old_checkpoints_still_read():
    assert parse_image_size("48x64") == (48, 64) and parse_image_size(32) == parse_image_size("32") == (32, 32)
    assert format_image_size((48, 64)) == "48x64" and format_image_size((32, 32)) == 32
    for bad in ("0x5", "abc", "12x", "-3", True):
        with pytest.raises(ValueError):
            parse_image_size(bad)
    old = {"img_size": 16, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}  # before in_chans/resize
    assert Preprocessing.from_dict(old) == Preprocessing((16, 16))
    assert Preprocessing.from_dict(old).to_dict()["img_size"] == 16  # a square is still written as one number
    grey = Preprocessing("12x16").with_input(1, "pad")
    assert (grey.input_shape, len(grey.mean), grey.to_dict()["img_size"]) == ((1, 12, 16), 1, "12x16")
    assert Preprocessing.from_dict(grey.to_dict()) == grey


@pytest.mark.parametrize("spec", list_models(), ids=lambda spec: spec.name)
def test_every_registered_model_takes_grey_non_square_images(spec):
    size = (24, 40) if spec.input_size <= 64 else (64, 96)
    model = build_model(spec.name, num_classes=3, img_size=size, in_chans=1).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, *size)).shape == (2, 3)


def test_rgb_weights_adapted_to_a_grey_model_see_a_grey_image_as_its_rgb_copy():
    torch.manual_seed(0)
    rgb = build_model("resnet18", num_classes=3).eval()
    grey = build_model("resnet18", num_classes=3, in_chans=1)
    grey.load_state_dict(adapted_to(grey.state_dict(), rgb.state_dict()))
    image = torch.rand(1, 1, 48, 64)
    with torch.no_grad():
        assert torch.allclose(grey.eval()(image), rgb(image.repeat(1, 3, 1, 1)), atol=1e-4)


@pytest.mark.parametrize("args", [["--img-size", "0x5"], ["--img-size", "abc"], ["--resize", "foo"],
                                  ["--in-chans", "2"]])
def test_bad_shapes_are_one_line_and_exit_2(tmp_path, args):
    result = run_cli("train.py", *args, "--out-dir", str(tmp_path / "runs"), cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and args[0] in result.stderr
    assert not (tmp_path / "runs").exists()


def grey_level_folder(root, shape: tuple[int, int], ext: str, count: int):
    """Three classes told apart by brightness, in images of ``shape`` (height, width)."""
    rng = np.random.default_rng(shape[0])
    for level, name in ((40, "dark"), (128, "mid"), (220, "light")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            noise = rng.integers(-30, 30, size=(*shape, 3))
            pixels = np.clip(level + noise + np.array([0, 20, -20]), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name}_{i:02d}{ext}")
    return root


def test_grey_non_square_run_predicts_and_exports_an_onnx_graph_that_agrees(tmp_path):
    data = grey_level_folder(tmp_path / "data", (20, 30), ".png", 10)
    train = run_main("train.py", "--data", str(data), "--model", "cnn", "--in-chans", "1", "--img-size", "12x16",
                    "--resize", "pad", "--epochs", "1", "--batch-size", "8", "--num-workers", "0", "--bootstrap", "0",
                    "--gradcam-per-class", "1", "--gradcam-mistakes", "0", "--out-dir", str(tmp_path / "runs"),
                    "--name", "grey", cwd=tmp_path)
    assert train.returncode == 0, train.stderr[-2000:]
    run = tmp_path / "runs" / "grey"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert (config["img_size"], config["in_chans"], config["resize"]) == ("12x16", 1, "pad")
    gradcam = Image.open(next((run / "gradcam").glob("*.png")))
    assert gradcam.size[0] > 0

    # new images of another aspect ratio, and formats, than the training images
    new = grey_level_folder(tmp_path / "new", (40, 18), ".jpg", 2)
    predict = run_main("predict.py", "--ckpt", str(run), "--images", str(new), "--export", "onnx", "--out",
                      str(tmp_path / "out"), cwd=tmp_path)
    assert predict.returncode == 0, predict.stderr[-2000:]
    assert "uint8 grey pixels in" in predict.stdout
    assert "agrees with predict.py on 100.0% of decisions" in predict.stdout
    assert len((tmp_path / "out" / "predictions.csv").read_text().strip().splitlines()) == 1 + 6
    metadata = read_onnx_metadata(tmp_path / "out" / "model.onnx")["preprocessing"]
    assert (metadata["height"], metadata["width"], metadata["in_chans"], metadata["resize_mode"]) == (12, 16, 1, "pad")
    graph_input = onnx.load(str(tmp_path / "out" / "model.onnx")).graph.input[0]
    assert len(graph_input.type.tensor_type.shape.dim) == 3  # (batch, height, width) grey pixels
    card = json.loads((tmp_path / "out" / "model.json").read_text())
    assert card["preprocessing"]["mean"] == metadata["mean"] and len(metadata["mean"]) == 1
