"""A multi-label run's figures and counts: a panel per label of its ROC or precision-recall curve with its threshold
marked, and each label's 2x2 counts at its threshold, where a single-label run has one curve figure and a KxK
confusion matrix. Only the known cells of a label count (an ignored cell is NaN in the truth)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from litcls.report.figures import _drawing, _figure, _render
from litcls.report.fonts import drawable_labels

KINDS = {"roc": ("false positive rate", "sensitivity"), "pr": ("recall", "precision")}
MAX_PANELS = 36  # beyond this the panels are too small to read; the first ones by label order are drawn


def label_counts(truth: np.ndarray, probabilities: np.ndarray, thresholds: list[float],
                 names: list[str]) -> pd.DataFrame:
    """A row per label: ``class``, ``threshold``, then ``TP``, ``FP``, ``FN``, ``TN`` of the calls at the threshold
    (probability >= threshold) over the label's known cells, and ``ignored`` (the cells left out)."""
    from litcls.tasks.base import called

    rows = []
    for label, name in enumerate(names):
        known = ~np.isnan(truth[:, label])
        positive = truth[known, label] == 1
        call = called(probabilities[known, label], thresholds[label])
        rows.append({"class": name, "threshold": float(thresholds[label]), "TP": int((call & positive).sum()),
                     "FP": int((call & ~positive).sum()), "FN": int((~call & positive).sum()),
                     "TN": int((~call & ~positive).sum()), "ignored": int((~known).sum())})
    return pd.DataFrame(rows)


def plot_label_curves(kind: str, truth: np.ndarray, probabilities: np.ndarray, thresholds: list[float],
                      names: list[str], title: str, path: Path) -> np.ndarray:
    """A grid of panels, one per label: its ROC (``kind`` ``roc``) or precision-recall (``pr``) curve over its known
    cells, its AUROC or AP in the panel title, and the point its threshold reaches marked; a label without both
    positives and negatives says so in its panel."""
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    shown, settings = drawable_labels(names)
    count = min(len(names), MAX_PANELS)
    columns = min(count, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / columns)
    with _drawing(settings):
        figure = _figure(2.3 * columns + 0.4, 2.2 * rows + 0.6)
        axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False).ravel())
        for label, ax in enumerate(axes):
            if label >= count:
                ax.set_axis_off()
                continue
            known = ~np.isnan(truth[:, label])
            positive, scores = truth[known, label] == 1, probabilities[known, label]
            ax.set_xlim(-0.02, 1.02)
            ax.set_ylim(-0.02, 1.02)
            ax.tick_params(labelsize=6)
            if positive.all() or not positive.any():
                ax.set_title(f"{shown[label]}: one class only", fontsize=8)
                continue
            call = scores >= thresholds[label]
            sensitivity = float((call & positive).sum() / positive.sum())
            if kind == "roc":
                x, y, _ = roc_curve(positive, scores)
                ax.plot(x, y, lw=1.2)
                ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.6)
                point = (float((call & ~positive).sum() / (~positive).sum()), sensitivity)
                score = f"AUROC {roc_auc_score(positive, scores):.3f}"
            else:
                y, x, _ = precision_recall_curve(positive, scores)
                ax.step(x, y, where="post", lw=1.2)
                ax.axhline(positive.mean(), ls="--", color="grey", lw=0.6)
                point = (sensitivity, float((call & positive).sum() / call.sum()) if call.any() else 1.0)
                score = f"AP {average_precision_score(positive, scores):.3f}"
            ax.plot(*point, "o", color="black", markersize=4)
            ax.set_title(f"{shown[label]}: {score}", fontsize=8)
        xlabel, ylabel = KINDS[kind]
        figure.supxlabel(xlabel, fontsize=9)
        figure.supylabel(ylabel, fontsize=9)
        more = f"; the first {count} of {len(names)} labels" if count < len(names) else ""
        figure.suptitle(f"{title}: {'ROC' if kind == 'roc' else 'precision-recall'} per label, the dot at its "
                        f"threshold{more}", fontsize=10)
        return _render(figure, path)
