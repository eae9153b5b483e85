"""The one writer of a split's confusion matrix, per-class report and curves: single runs, epochs and k-fold's
out-of-fold predictions use it.

``<prefix>confusion_matrix.csv`` (rows true class, columns predicted class, class names as headers),
``<prefix>confusion_matrix.png`` (counts and row-normalised counts) and ``<prefix>classification_report.csv``
(:func:`litcls.report.classification.classification_report`) come from one confusion matrix, so they agree. Given
the probabilities, the report gains ``auroc`` and ``ap`` per class (one-vs-rest, the metric table's metrics): empty
for a class without images in the split, and their ``macro avg`` row is the split's macro AUROC and AP; with
``curves``, ``<prefix>roc.png`` and ``<prefix>pr.png`` draw them.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import confusion_matrix

from litcls.report.classification import classification_report


class SplitReport(NamedTuple):
    counts: np.ndarray  # (C, C) rows true, columns predicted
    report: pd.DataFrame  # classification_report.csv
    figures: dict[str, np.ndarray]  # confusion_matrix (and roc, pr): the PNGs' pixels, for the loggers
    notes: list[str]  # classes the threshold-free scores had to leave out


def per_class_scores(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, np.ndarray]:
    """One-vs-rest ``auroc`` and ``ap`` per class (NaN for a class without images, or the only class present)."""
    from litcls.evaluation.present_classes import PresentClassAUROC, PresentClassAveragePrecision

    preds = torch.tensor(probabilities, dtype=torch.float32)
    target = torch.tensor(np.asarray(labels), dtype=torch.long)
    classes = probabilities.shape[1]
    return {name: metric(classes, average=None, sync_on_compute=False)(preds, target).numpy().astype(np.float64)
            for name, metric in (("auroc", PresentClassAUROC), ("ap", PresentClassAveragePrecision))}


def write_split_report(folder: Path, labels: np.ndarray, predicted: np.ndarray, class_names: list[str], title: str,
                       prefix: str = "", probabilities: np.ndarray | None = None, split: str = "evaluated",
                       curves: bool = False, positive: int | None = None,
                       point: dict[str, float] | None = None) -> SplitReport:
    """Write the confusion matrix (CSV, PNG) and per-class report of true ``labels`` against ``predicted`` labels.

    Args:
        folder: where the files go.
        labels: (N,) true labels.
        predicted: (N,) predicted labels.
        class_names: the class names in label order.
        title: the figure's title.
        prefix: put before every file name (``oof_``).
        probabilities: (N, C) class probabilities: adds ``auroc`` and ``ap`` per class.
        split: the split's name, for the notes.
        curves: with ``probabilities``, also draw the ROC and precision-recall curves.
        positive: a two-class task's positive label: its curves only.
        point: the operating point to mark on them: ``threshold``, ``sensitivity``, ``specificity``, ``ppv``.
    """
    from litcls.report.figures import plot_confusion_matrix, plot_precision_recall, plot_roc

    names = list(class_names)
    counts = confusion_matrix(labels, predicted, labels=list(range(len(names))))
    report = classification_report(counts, names)
    notes = []
    if probabilities is not None:
        classes = len(names)
        for name, scores in per_class_scores(labels, probabilities).items():
            defined = ~np.isnan(scores)
            report[name] = [*scores, scores[defined].mean() if defined.any() else np.nan, np.nan, np.nan]
        missing = [names[label] for label in range(classes) if not (np.asarray(labels) == label).any()]
        if missing:
            notes.append(f"class(es) {', '.join(missing)} have no images in the {split} split: their AUROC and AP "
                         "are left empty and the macro averages cover the other classes")
    folder.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(counts, index=pd.Index(names, name="true / predicted"), columns=names)
    table.to_csv(folder / f"{prefix}confusion_matrix.csv", encoding="utf-8")
    report.to_csv(folder / f"{prefix}classification_report.csv", index=False, encoding="utf-8")
    figures = {"confusion_matrix": plot_confusion_matrix(counts, names, title,
                                                         folder / f"{prefix}confusion_matrix.png")}
    if curves and probabilities is not None:
        per_class, macro = report.iloc[:len(names)], report.iloc[len(names)]
        if positive is None:
            roc_title = f"{title}: one-vs-rest, macro AUROC {macro['auroc']:.4f}"
            pr_title = f"{title}: one-vs-rest, macro AP {macro['ap']:.4f}"
        else:
            roc_title = pr_title = f"{title}: positive class {names[positive]!r}"
        roc_point = pr_point = None
        if point is not None:
            roc_point = (point["threshold"], point["sensitivity"], point["specificity"])
            pr_point = (point["threshold"], point["sensitivity"], point["ppv"])
        figures["roc"] = plot_roc(labels, probabilities, names, per_class["auroc"].tolist(), roc_title,
                                  folder / f"{prefix}roc.png", positive, roc_point)
        figures["pr"] = plot_precision_recall(labels, probabilities, names, per_class["ap"].tolist(), pr_title,
                                              folder / f"{prefix}pr.png", positive, pr_point)
    return SplitReport(counts, report, figures, notes)
