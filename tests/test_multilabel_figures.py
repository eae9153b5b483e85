"""A multi-label run's report: per-label 2x2 counts at each threshold (ignored cells left out, as scikit-learn
counts the known ones), the per-label ROC and PR grids, and report.html showing them in place of a KxK matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.metrics import confusion_matrix

from litcls.report.label_figures import label_counts, plot_label_curves
from litcls.report.page import build_page

NAMES = ["effusion", "edema", "rare"]


def synthetic(seed: int = 0, images: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """Truth with ignored (NaN) cells and a label without positives; probabilities that follow the truth."""
    rng = np.random.default_rng(seed)
    truth = (rng.random((images, len(NAMES))) < 0.4).astype(float)
    truth[:, 2] = 0.0  # no positive: its curves cannot be drawn
    truth[rng.random(truth.shape) < 0.1] = np.nan
    probabilities = np.clip(np.nan_to_num(truth, nan=0.5) * 0.5 + rng.random(truth.shape) * 0.5, 0, 1)
    return truth, probabilities


def test_label_counts_are_scikit_learns_2x2_over_known_cells():
    truth, probabilities = synthetic()
    thresholds = [0.5, 0.6, 0.7]
    counts = label_counts(truth, probabilities, thresholds, NAMES).set_index("class")
    for label, name in enumerate(NAMES):
        known = ~np.isnan(truth[:, label])
        tn, fp, fn, tp = confusion_matrix(truth[known, label].astype(int),
                                          (probabilities[known, label] >= thresholds[label]).astype(int),
                                          labels=[0, 1]).ravel()
        assert tuple(counts.loc[name, ["TP", "FP", "FN", "TN"]]) == (tp, fp, fn, tn), name
        assert counts.loc[name, "ignored"] == (~known).sum() > 0


def test_curve_grids_draw_a_panel_per_label_and_the_page_shows_them(tmp_path: Path):
    truth, probabilities = synthetic()
    for kind in ("roc", "pr"):
        pixels = plot_label_curves(kind, truth, probabilities, [0.5] * 3, NAMES, "test split", tmp_path / f"{kind}.png")
        assert pixels.ndim == 3 and Image.open(tmp_path / f"{kind}.png").size == (pixels.shape[1], pixels.shape[0])
    label_counts(truth, probabilities, [0.5] * 3, NAMES).to_csv(tmp_path / "label_counts.csv", index=False)
    page = build_page(tmp_path)
    assert "Per label at its threshold" in page and "Confusion matrix" not in page
    assert 'alt="roc.png"' in page and 'alt="pr.png"' in page
    assert "<td>rare</td>" in page  # a row per label, the one without positives too
