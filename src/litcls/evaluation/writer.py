"""The one writer of a split's confusion matrix and per-class report: single runs, epochs and k-fold use it.

``<prefix>confusion_matrix.csv`` (rows true class, columns predicted class, class names as headers),
``<prefix>confusion_matrix.png`` (counts and row-normalised counts) and ``<prefix>classification_report.csv``
(:func:`litcls.report.classification.classification_report`) come from one confusion matrix, so they agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from litcls.report.classification import classification_report


class SplitReport(NamedTuple):
    counts: np.ndarray  # (C, C) rows true, columns predicted
    report: pd.DataFrame  # classification_report.csv
    figure: np.ndarray  # confusion_matrix.png's pixels, for the loggers


def write_split_report(folder: Path, labels: np.ndarray, predicted: np.ndarray, class_names: list[str], title: str,
                       prefix: str = "") -> SplitReport:
    """Write the confusion matrix (CSV, PNG) and per-class report of true ``labels`` against ``predicted`` labels."""
    from litcls.report.figures import plot_confusion_matrix

    names = list(class_names)
    counts = confusion_matrix(labels, predicted, labels=list(range(len(names))))
    report = classification_report(counts, names)
    folder.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(counts, index=pd.Index(names, name="true / predicted"), columns=names)
    table.to_csv(folder / f"{prefix}confusion_matrix.csv", encoding="utf-8")
    report.to_csv(folder / f"{prefix}classification_report.csv", index=False, encoding="utf-8")
    figure = plot_confusion_matrix(counts, names, title, folder / f"{prefix}confusion_matrix.png")
    return SplitReport(counts, report, figure)
