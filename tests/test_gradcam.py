"""Grad-CAM: the target layer of every model family, overlays, and a model left as it was found."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from PIL import Image

import litcls.report.fonts
from conftest import PALETTE, run_main, write_images
from litcls.callbacks.gradcam_gallery import select_examples
from litcls.data.transforms import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from litcls.errors import UserError
from litcls.models.gradcam import find_target_layer, gradcam_heatmaps, overlay, resolve_target_layer, to_display
from litcls.models.module import ClassifierModule
from litcls.report.figures import plot_gradcam
from litcls.report.fonts import drawable_labels, missing_characters


def _module(name: str = "cnn", size: int = 16) -> ClassifierModule:
    torch.manual_seed(0)
    return ClassifierModule(model=name, class_names=["a", "b", "c"], preprocessing=Preprocessing(size).to_dict())


def _hooks(module: torch.nn.Module) -> int:
    return sum(len(sub._forward_hooks) + len(sub._backward_hooks) for sub in module.modules())


@pytest.mark.parametrize("training", [True, False])
def test_overlay_has_the_image_size_is_not_constant_and_leaves_the_model_as_found(training):
    module = _module(size=16)
    module.train(training)
    module.model.features[0].eval()  # a mixed state must survive too
    module.model.classifier[-1].weight.requires_grad_(False)
    module.model.features[0][0].weight.grad = torch.ones_like(module.model.features[0][0].weight)
    modes = [sub.training for sub in module.modules()]
    flags = [param.requires_grad for param in module.parameters()]
    path, layer, _ = resolve_target_layer(module, None, (3, 16, 16))
    images = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        predicted = module.eval()(images).argmax(dim=1).tolist()  # as the callback does: explain the prediction
    module.train(training)
    module.model.features[0].eval()

    heatmaps = gradcam_heatmaps(module, layer, images, predicted)
    overlays = overlay(to_display(images, IMAGENET_MEAN, IMAGENET_STD), heatmaps)

    assert path == "model.features.7"
    assert heatmaps.shape == (3, 16, 16) and overlays.shape == (3, 16, 16, 3) and overlays.dtype == np.uint8
    for heatmap in heatmaps:
        assert heatmap.max() > heatmap.min()
    assert [sub.training for sub in module.modules()] == modes
    assert [param.requires_grad for param in module.parameters()] == flags
    assert torch.equal(module.model.features[0][0].weight.grad, torch.ones_like(module.model.features[0][0].weight))
    assert all(param.grad is None for name, param in module.named_parameters() if name != "model.features.0.0.weight")
    assert _hooks(module) == 0


def test_heatmaps_work_inside_inference_mode_as_in_lightning_evaluation():
    module = _module().eval()
    _, layer, _ = resolve_target_layer(module, None, (3, 16, 16))
    with torch.inference_mode():
        images = torch.randn(2, 3, 16, 16)
        heatmaps = gradcam_heatmaps(module, layer, images, [1, 2])
    assert heatmaps.shape == (2, 16, 16) and np.isfinite(heatmaps).all()


@pytest.mark.parametrize("name", ["linear", "mlp"])
def test_models_without_convolutions_have_no_target_layer(name):
    assert resolve_target_layer(_module(name), None, (3, 16, 16)) is None


@pytest.mark.parametrize("builder, expected", [
    (torchvision.models.resnet18, "layer4"),
    (torchvision.models.mobilenet_v3_small, "features"),
])
def test_target_layer_of_torchvision_families_is_their_last_feature_stage(builder, expected):
    model = builder(weights=None, num_classes=4)
    assert find_target_layer(model, (3, 96, 96)) == expected
    heatmaps = gradcam_heatmaps(model, model.get_submodule(expected), torch.randn(1, 3, 96, 96), [2])
    assert heatmaps.shape == (1, 96, 96) and heatmaps.max() > heatmaps.min()
    assert _hooks(model) == 0


def test_layer_override_is_checked_with_a_message_that_lists_valid_layers():
    module = _module()
    assert resolve_target_layer(module, "model.features.4", (3, 16, 16))[0] == "model.features.4"
    with pytest.raises(UserError, match=r"no module 'model.nope'.*model\.features\.7"):
        resolve_target_layer(module, "model.nope", (3, 16, 16))
    with pytest.raises(UserError, match="'model.classifier' does not output one"):
        resolve_target_layer(module, "model.classifier", (3, 16, 16))


def test_examples_are_a_fixed_sample_per_class_plus_the_most_confident_mistakes():
    labels = np.array([0, 0, 0, 1, 1, 2, 0])
    probabilities = np.array([[.9, .1, 0], [.2, .8, 0], [.6, .4, 0], [.3, .7, 0], [.1, .9, 0], [.05, .05, .9],
                              [.4, 0, .6]])
    chosen = select_examples(labels, probabilities, per_class=2, mistakes=5)
    assert chosen == [("class-00-0", 0), ("class-00-1", 6), ("class-01-0", 3), ("class-01-1", 4),
                      ("class-02-0", 5), ("mistake-00", 1), ("mistake-01", 6)]
    assert select_examples(labels, probabilities, per_class=0, mistakes=1) == [("mistake-00", 1)]


# The classes of the report: a Korean name sorts last, so it is class 3 of four.
SHAPES = ["circles", "squares", "triangles", "형태"]
NO_FONT_LABELS = ["circles", "squares", "triangles", "class 3"]


@pytest.fixture
def no_cjk_font(monkeypatch):
    """No installed font draws Hangul, whatever this machine has installed."""
    monkeypatch.setattr(litcls.report.fonts, "_font_covering", lambda chars: None)
    monkeypatch.setattr(litcls.report.fonts, "_warned", set())


def title(png) -> str:
    with Image.open(png) as image:
        return image.text["Title"]


def test_gradcam_titles_name_each_class_by_its_own_index_when_its_name_cannot_be_drawn(no_cjk_font, tmp_path):
    image = np.random.default_rng(0).random((16, 16, 3))
    cam = (image * 255).astype(np.uint8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = drawable_labels(SHAPES)
    assert labels[0] == NO_FONT_LABELS
    [warning] = caught
    assert "(형태)" in str(warning.message)  # the characters as written, not sorted by code point
    plot_gradcam(image, cam, 0, 3, 0.9, labels, tmp_path / "mistake.png")
    plot_gradcam(image, cam, 3, 3, 0.8, labels, tmp_path / "correct.png")
    plot_gradcam(image, cam, None, 3, 0.7, labels, tmp_path / "unlabelled.png")
    assert title(tmp_path / "mistake.png") == "true: circles   predicted: class 3 (0.90)"
    assert title(tmp_path / "correct.png") == "true: class 3   predicted: class 3 (0.80)"
    assert title(tmp_path / "unlabelled.png") == "predicted: class 3 (0.70)"


def test_missing_characters_keep_their_order_of_first_appearance(no_cjk_font):
    assert missing_characters(["얼룩말", "말", "a 룩"]) == ["얼", "룩", "말"]


def expected_title(row: pd.Series, labels: list[str]) -> str:
    probabilities = row[[f"prob_{name}" for name in SHAPES]].to_numpy(dtype=float)
    predicted = int(probabilities.argmax())
    return (f"true: {labels[int(row['label'])]}   predicted: {labels[predicted]} "
            f"({probabilities[predicted]:.2f})")


@pytest.mark.slow
def test_titles_of_a_runs_gallery_and_of_predict_name_the_true_classes_without_a_cjk_font(no_cjk_font, tmp_path):
    """The report: without a font for 형태, a mistake read "true: circles, predicted: class 1" and a correct
    image of 형태 "true: class 0, predicted: class 1". Here some circles look like 형태 (mislabelled), so the
    gallery has both a correct 형태 and a circle taken for one."""
    data = tmp_path / "shapes"
    for index, name in enumerate(SHAPES):
        write_images(data / name, 10, PALETTE[index], seed=index)
    write_images(data / "circles", 5, PALETTE[3], seed=9, prefix="looks_like_3")

    result = run_main("train.py", "--data", str(data), "--model", "cnn", "--img-size", "16", "--epochs", "6",
                      "--batch-size", "8", "--num-workers", "0", "--augment", "none", "--logger", "csv",
                      "--val-size", "0.2", "--test-size", "0.4", "--name", "shapes", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "some class names (형태)" in result.stderr
    run = tmp_path / "runs" / "shapes"
    table = pd.read_csv(run / "predictions.csv", keep_default_na=False)
    shown = table[table["gradcam"] != ""]
    for _, row in shown.iterrows():
        for png in row["gradcam"].split(";"):
            assert title(run / png) == expected_title(row, NO_FONT_LABELS), png
    assert ((shown["class"] == "형태") & (shown["predicted"] == "형태")).any()  # a correct image of class 3
    assert ((shown["class"] == "circles") & (shown["predicted"] == "형태")).any()  # a circle taken for class 3

    result = run_main("predict.py", "--ckpt", str(run), "--images", *(str(data / name) for name in SHAPES),
                      "--gradcam", "--no-calibration", "--out", "preds", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "preds" / "predictions.csv", keep_default_na=False)
    for _, row in table.iterrows():
        assert title(tmp_path / row["gradcam"]) == expected_title(row, NO_FONT_LABELS), row["path"]
    assert ((table["class"] == "형태") & (table["predicted"] == "형태")).any()
    assert ((table["class"] == "circles") & (table["predicted"] == "형태")).any()
