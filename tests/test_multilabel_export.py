"""A multi-label checkpoint exported to ONNX: a sigmoid and a temperature per label inside the graph, each label's
threshold and name in the metadata, and per-label decisions equal to predict.py's on real image files (also from
the ONNX-only example)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import REPO
from litcls.data.transforms import Preprocessing
from litcls.inference.export import export_model, read_onnx_metadata
from litcls.inference.onnx_parity import compare_with_predict, describe
from litcls.inference.predictor import predict_images
from litcls.models.module import ClassifierModule
from test_predict import write_photo_like

LABELS = ["cat", "dog", "sofa"]


def widest_gap(values: np.ndarray) -> float:
    """The middle of the widest gap between sorted values, two or more of them on either side."""
    ordered = np.sort(values)
    gaps = np.diff(ordered)[1:-1]
    cut = int(gaps.argmax()) + 1
    return float((ordered[cut] + ordered[cut + 1]) / 2)


def test_multilabel_onnx_holds_the_per_label_decision_and_agrees_with_predict(tmp_path: Path):
    paths = write_photo_like(tmp_path / "photos")
    torch.manual_seed(0)
    module = ClassifierModule("cnn", LABELS, Preprocessing(img_size=16).to_dict(), task="multi_label").eval()
    temperatures = {"cat": 0.5, "dog": 2.0, "sofa": 1.0}
    module.decision = {"temperatures": temperatures}
    own = predict_images(module, paths)
    # each label's threshold in the widest gap between its middle probabilities: called on some images only, and
    # no image so near it that float rounding between ONNX Runtime and PyTorch could flip the call
    middle = {name: widest_gap(own[f"prob_{name}"].to_numpy()) for name in LABELS}
    module.decision |= {"thresholds": {name: 0.5 for name in LABELS}, "thresholds_calibrated": middle,
                        "threshold_rule": "f1"}
    model_file = export_model(module, tmp_path / "out", "onnx")

    metadata = read_onnx_metadata(model_file)
    assert metadata["class_names"] == LABELS and metadata["task"] == "multi_label"
    decision = metadata["decision"]
    assert decision["activation"] == "sigmoid" and decision["thresholds"] == middle
    assert decision["temperatures"] == temperatures and decision["threshold_rule"] == "f1"

    result = compare_with_predict(module, model_file, paths)
    assert result["images"] == len(paths) and result["agreement"] == 1.0, describe(result)
    assert result["max_difference"] < 1e-4
    assert "per-label decisions" in describe(result)
    # the per-label temperatures are inside the graph: the model's own probabilities differ
    assert compare_with_predict(module, model_file, paths, calibrated=False)["max_difference"] > 1e-3

    # the example, with ONNX Runtime and Pillow only, calls the labels predict.py calls
    table = predict_images(module, paths)
    expected = ["|".join(name for name in LABELS if row[f"pred_{name}"]) for _, row in table.iterrows()]
    assert len(set(expected)) > 1
    printed = subprocess.run([sys.executable, str(REPO / "docs" / "examples" / "onnx_predict.py"), str(model_file),
                              *map(str, paths)], capture_output=True, text=True, timeout=300)
    assert printed.returncode == 0, printed.stderr
    rows = pd.read_csv(io.StringIO(printed.stdout), keep_default_na=False)
    assert list(rows["labels"]) == expected


def test_multilabel_onnx_without_calibration_uses_the_uncalibrated_thresholds(tmp_path: Path):
    module = ClassifierModule("linear", LABELS, Preprocessing(img_size=8).to_dict(), task="multi_label").eval()
    module.decision = {"temperatures": {name: 3.0 for name in LABELS},
                       "thresholds": {"cat": 0.3, "dog": 0.4, "sofa": 0.6},
                       "thresholds_calibrated": {name: 0.5 for name in LABELS}, "threshold_rule": "f1"}
    decision = read_onnx_metadata(export_model(module, tmp_path, "onnx", calibrated=False))["decision"]
    assert decision["probabilities"] == "model's own"
    assert decision["temperatures"] == {name: 1.0 for name in LABELS}
    assert decision["thresholds"] == pytest.approx({"cat": 0.3, "dog": 0.4, "sofa": 0.6})
