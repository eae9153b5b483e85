"""Failure slices: accuracy and macro F1 of the evaluated split per value of a column (a group such as a patient
or a hospital, or any metadata column of the sample table), worst first.

One slice that holds most of the mistakes (a hospital whose scanner differs, a patient whose images all fail)
looks like a general weakness in the overall numbers; this table tells the two apart.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.metrics import f1_score

from litcls.errors import UserError
from litcls.suggest import did_you_mean

COLUMNS = ["column", "value", "images", "errors", "share_of_errors", "accuracy", "f1_macro"]
_NOT_METADATA = ("path", "label", "split", "fold", "given_split")


def slice_columns(data: Any) -> list[str]:
    """The columns sliced by: ``group`` when the images have groups (added by the caller), then ``--slice-cols``
    of the data settings ``data``."""
    return [name.strip() for name in (data.slice_cols or "").split(",") if name.strip()]


def check_slice_columns(names: list[str], table: Any) -> None:
    """Every ``--slice-cols`` name must be a metadata column of the sample table (before training, one line)."""
    available = [name for name in table.samples.columns if name not in _NOT_METADATA]
    unknown = [name for name in names if name not in available]
    if unknown:
        raise UserError(f"--slice-cols: {', '.join(unknown)} not among the columns of {table.root}'s sample table"
                        f"{did_you_mean(unknown[0], available)}; "
                        f"available: {', '.join(available) or 'none (a manifest keeps its extra columns)'}")


def slices_table(predictions: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """:func:`slice_metrics` of every column in turn, one table (``slices.csv``)."""
    return pd.concat([slice_metrics(predictions, column) for column in columns], ignore_index=True)


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
