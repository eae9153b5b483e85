"""Failure slices: accuracy and macro F1 of the evaluated split per value of a column (a group such as a patient
or a hospital, or any metadata column of the sample table), worst first.

One slice that holds most of the mistakes (a hospital whose scanner differs, a patient whose images all fail)
looks like a general weakness in the overall numbers; this table tells the two apart.
"""

from __future__ import annotations

import pandas as pd
from sklearn.metrics import f1_score

COLUMNS = ["column", "value", "images", "errors", "share_of_errors", "accuracy", "f1_macro"]


def slice_metrics(predictions: pd.DataFrame, column: str) -> pd.DataFrame:
    """One row per value of ``column`` in a predictions table: images, errors, its share of all errors, accuracy,
    and macro F1 over the classes present or predicted in the slice (scikit-learn's default); lowest accuracy
    first, then most errors.
    """
    total_errors = int((~predictions["correct"].astype(bool)).sum())
    rows = []
    for value, part in predictions.groupby(column, sort=True, dropna=False):
        correct = part["correct"].astype(bool)
        errors = int((~correct).sum())
        rows.append([column, value, len(part), errors, errors / total_errors if total_errors else 0.0,
                     float(correct.mean()),
                     float(f1_score(part["class"], part["predicted"], average="macro", zero_division=0))])
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.sort_values(["accuracy", "errors", "value"], ascending=[True, False, True], ignore_index=True)
