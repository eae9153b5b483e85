"""A multi-label run end to end through the real command line: a CheXpert-shaped manifest (uncertain and blank
cells, several images per patient) trains, its per-label report is reproduced by scikit-learn from
predictions.csv with the ignored cells left out, the checkpoint keeps the task and the per-label decision, and
predict.py applies them to new images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from conftest import run_main
from real_shaped_datasets import CHEXPERT_FINDINGS, write_chexpert_manifest

FAST = ["--img-size", "16", "--epochs", "2", "--bootstrap", "50", "--gradcam-per-class", "0",
        "--gradcam-mistakes", "0", "--logger", "none"]


def test_chexpert_shaped_manifest_trains_reports_per_label_and_predicts(tmp_path: Path):
    manifest = write_chexpert_manifest(tmp_path / "chexpert", patients=50, size=16)
    labels = list(CHEXPERT_FINDINGS)
    trained = run_main("train.py", "--data", str(manifest), "--image-root", str(tmp_path / "chexpert"),
                       "--path-col", "Path", "--label-cols", ",".join(labels), "--group-pattern", r"patient(\d+)",
                       *FAST, "--out-dir", str(tmp_path / "runs"), "--name", "cx", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    run = tmp_path / "runs" / "cx"
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert results["monitor"] == "val/auroc"  # the multi-label default
    assert set(results["thresholds"]["by_label"]) == set(labels)
    assert len(results["calibration"]["temperatures"]) == len(labels)
    assert {"test/auroc", "test/ap", "test/f1_macro_at_thresholds", "test/hamming_at_thresholds"} <= set(results)
    assert set(results["confidence_intervals"]["metrics"]) >= {"test/auroc", "test/f1_macro_at_thresholds"}

    predictions = pd.read_csv(run / "predictions.csv")
    report = pd.read_csv(run / "classification_report.csv").set_index("class")
    assert list(report.index) == [*labels, "macro avg", "micro avg"]
    ignored = 0
    for name in labels:
        truth = predictions[f"true_{name}"]
        known = truth.notna()
        ignored += int((~known).sum())
        assert report.loc[name, "support"] == known.sum()
        if truth[known].nunique() == 2:
            auroc = roc_auc_score(truth[known].astype(int), predictions.loc[known, f"prob_{name}"])
            assert auroc == pytest.approx(report.loc[name, "auroc"], abs=1e-6), name
        called = predictions[f"prob_{name}"] >= results["thresholds"]["by_label"][name]
        assert (predictions[f"pred_{name}"] == called.astype(int)).all()
    assert ignored > 0  # the uncertain cells are blank, not 0
    splits = pd.read_csv(run / "splits.csv", keep_default_na=False)
    assert (splits.groupby("group")["split"].nunique() == 1).all()

    checkpoint = torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["hyper_parameters"]["task"] == "multi_label"
    assert set(checkpoint["decision"]["thresholds"]) == set(labels)

    images = [tmp_path / "chexpert" / path for path in predictions["path"][:6]]
    predicted = run_main("predict.py", "--ckpt", str(run), "--images", *map(str, images), "--no-calibration",
                         "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert "pred_<label> is 1 where the probability reaches the label's threshold" in predicted.stdout
    table = pd.read_csv(tmp_path / "out" / "predictions.csv", keep_default_na=False)
    for name in labels:  # the model's own probabilities, as the run's evaluation computed them
        np.testing.assert_allclose(table[f"prob_{name}"], predictions[f"prob_{name}"][:6], atol=1e-5)
        thresholds = checkpoint["decision"]["thresholds"]
        assert (table[f"pred_{name}"] == (table[f"prob_{name}"] >= thresholds[name]).astype(int)).all()
