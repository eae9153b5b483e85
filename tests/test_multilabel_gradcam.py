"""The Grad-CAM gallery of a multi-label run: images of each label, an overlay for every label the image is called
positive for at its threshold (the most probable label when none is), and the report's gallery showing them; the
same per image from predict.py --gradcam."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from conftest import write_images
from litcls.callbacks.gradcam_gallery import GradCAMGallery, select_label_examples
from litcls.data.transforms import Preprocessing
from litcls.inference.predictor import predict_images, write_gradcam
from litcls.models.module import ClassifierModule
from litcls.report.page import build_page

NAMES = ["a", "b", "c"]


def test_label_examples_are_spread_over_each_labels_positives():
    truth = np.array([[1, 0, np.nan], [1, 1, 0], [0, 1, 0], [1, 0, 0]], dtype=float)
    assert select_label_examples(truth, 2) == [("label-00-0", 0), ("label-00-1", 3), ("label-01-0", 1),
                                               ("label-01-1", 2)]  # c has no positive: none


def test_an_overlay_per_called_label(tmp_path: Path):
    module = ClassifierModule("cnn", NAMES, Preprocessing(img_size=16).to_dict(), task="multi_label").eval()
    gallery = GradCAMGallery(tmp_path, per_class=1, mistakes=0)
    gallery.setup(None, module, "fit")
    dataset = [(torch.rand(3, 16, 16), 0) for _ in range(4)]
    truth = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 1], [1, 1, 0]], dtype=float)
    probabilities = np.array([[0.9, 0.8, 0.1], [0.2, 0.3, 0.1], [0.1, 0.2, 0.7], [0.6, 0.6, 0.6]])
    thresholds = [0.5, 0.5, 0.5]
    written = gallery.explain_labels(module, dataset, probabilities, truth, thresholds, tmp_path / "gradcam")
    # label a: image 0 (called a, b); label b: image 1 (called nothing: its most probable, b); label c: image 1
    assert [(index, path.name) for index, path in written] == [
        (0, "label-00-0-cam-00.png"), (0, "label-00-0-cam-01.png"), (1, "label-01-0-cam-01.png"),
        (1, "label-02-0-cam-01.png")]
    assert all(path.is_file() for _, path in written)
    page = build_page(tmp_path)
    assert "an overlay per label called positive" in page and page.count('alt="label-') == 4


def test_predict_gradcam_writes_an_overlay_per_called_label(tmp_path: Path):
    module = ClassifierModule("cnn", NAMES, Preprocessing(img_size=16).to_dict(), task="multi_label").eval()
    paths = (write_images(tmp_path / "images", 2, (200, 40, 40)) + write_images(tmp_path / "images", 2, (40, 40, 200),
                                                                                 prefix="blue"))
    own = predict_images(module, paths)
    module.decision = {"thresholds": {name: float(own[f"prob_{name}"].median()) for name in NAMES},
                       "thresholds_calibrated": {name: float(own[f"prob_{name}"].median()) for name in NAMES}}
    table = predict_images(module, [*paths, tmp_path / "missing.png"])
    files = write_gradcam(module, table, tmp_path / "out")
    for (_, row), written in zip(table.iterrows(), files, strict=True):
        if row["error"]:
            assert written == ""
            continue
        called = [k for k, name in enumerate(NAMES) if row[f"pred_{name}"] == 1]
        expected = called or [int(np.argmax([row[f"prob_{name}"] for name in NAMES]))]
        assert [int(Path(file).stem[-2:]) for file in written.split(";")] == expected
        assert all(Path(file).is_file() for file in written.split(";"))
