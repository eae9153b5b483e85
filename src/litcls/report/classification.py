"""Per-class precision, recall, F1 and support, computed from one confusion matrix.

Every number of ``classification_report.csv`` comes from the same matrix as ``confusion_matrix.csv``, so the
two files agree by construction. Conventions follow scikit-learn's ``precision_recall_fscore_support`` with
``zero_division=0``; the averages skip a class that is neither present nor predicted (as scikit-learn does for
labels it does not see and torchmetrics does for ``average="macro"``), so they match ``test/f1_macro``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["class", "precision", "recall", "f1", "support"]
AVERAGES = ("macro avg", "micro avg", "weighted avg")


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros_like(numerator, dtype=float), where=denominator > 0)


def classification_report(confusion: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """One row per class, then ``macro avg``, ``micro avg`` and ``weighted avg``.

    Args:
        confusion: (C, C) counts, rows true class, columns predicted class.
        class_names: the C class names, in label order.

    Returns:
        A frame with columns ``class, precision, recall, f1, support``.
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    if confusion.shape != (len(class_names), len(class_names)):
        raise ValueError(f"confusion matrix of shape {confusion.shape} for {len(class_names)} classes")
    true_positives = np.diag(confusion).astype(float)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    precision = _divide(true_positives, predicted)
    recall = _divide(true_positives, support)
    f1 = _divide(2 * true_positives, support + predicted)  # = 2PR / (P + R), defined when P + R = 0
    seen = (support + predicted) > 0
    total = int(support.sum())
    micro = float(true_positives.sum() / total) if total else 0.0  # single-label: micro P = R = F1 = accuracy
    rows = [[name, p, r, f, int(s)] for name, p, r, f, s in zip(class_names, precision, recall, f1, support,
                                                                  strict=True)]
    rows.append(["macro avg", *(float(values[seen].mean()) if seen.any() else 0.0
                                for values in (precision, recall, f1)), total])
    rows.append(["micro avg", micro, micro, micro, total])
    rows.append(["weighted avg", *(float(values @ support / total) if total else 0.0
                                   for values in (precision, recall, f1)), total])
    return pd.DataFrame(rows, columns=COLUMNS)
