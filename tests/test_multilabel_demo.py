"""The demo page on a multi-label checkpoint: a bar per label with its threshold marked, the labels called
positive listed, exactly as predict.py calls them; the Grad-CAM of a called label."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import write_images
from litcls.cli.demo_page import build_app, decision_note, explain_image, label_bars_html
from litcls.data.transforms import Preprocessing
from litcls.inference.predictor import gradcam_target, predict_images
from litcls.models.module import ClassifierModule

LABELS = ["cat", "dog", "sofa <b>"]  # a name with markup: shown literally


def bars_of(page: str) -> list[tuple[str, float, float, bool]]:
    """(label, probability, threshold, called) of every bar of :func:`label_bars_html`."""
    pattern = (r"<div class='label-bar( called)?' data-label='([^']*)' data-probability='([\d.]+)' "
               r"data-threshold='([\d.]+)'")
    return [(name, float(p), float(t), bool(called)) for called, name, p, t in re.findall(pattern, page)]


def test_label_bars_mark_each_threshold_and_call_at_or_above_it():
    page = label_bars_html(["a", "b", "c <i>"], [0.7, 0.2, 0.5], [0.5, 0.3, 0.5])
    assert bars_of(page) == [("a", 0.7, 0.5, True), ("b", 0.2, 0.3, False), ("c &lt;i&gt;", 0.5, 0.5, True)]
    assert page.count("class='threshold-mark'") == 3 and "left:30.00%" in page  # b's threshold mark
    assert "<i>" not in page


def test_the_page_shows_predict_images_calls_per_label(tmp_path: Path):
    module = ClassifierModule("cnn", LABELS, Preprocessing(img_size=16).to_dict(), task="multi_label").eval()
    images = (write_images(tmp_path / "images", 3, (200, 40, 40), size=24)
              + write_images(tmp_path / "images", 3, (40, 40, 200), size=24, prefix="blue"))
    own = predict_images(module, images)
    middle = {name: float(own[f"prob_{name}"].median()) for name in LABELS}  # some labels called, some not
    module.decision = {"thresholds": middle, "thresholds_calibrated": middle, "threshold_rule": "f1"}
    table = predict_images(module, images)
    target = gradcam_target(module)
    for path, (_, row) in zip(images, table.iterrows(), strict=True):
        result = explain_image(module, target, str(path))
        bars = bars_of(result.label_bars)
        assert [bar[1] for bar in bars] == pytest.approx([row[f"prob_{name}"] for name in LABELS], abs=1e-6)
        assert [bar[2] for bar in bars] == pytest.approx([middle[name] for name in LABELS], abs=1e-6)
        assert [bar[3] for bar in bars] == [bool(row[f"pred_{name}"]) for name in LABELS]
        called = [name for name in LABELS if row[f"pred_{name}"]]
        assert result.summary.count("class='called-label'") == len(called)
        assert result.confidences is None and result.overlay is not None
        if called:  # the overlay explains the most probable label called
            assert result.overlay_label == f"Grad-CAM: {max(called, key=lambda name: row[f'prob_{name}'])}"
    assert "chosen per label on the validation split by f1" in decision_note(module)
    assert explain_image(module, target, str(tmp_path / "missing.png")).summary.startswith("**Cannot read")
    build_app(module, target, [], tmp_path / "model.ckpt")  # the page builds with the label bars in place of Label
