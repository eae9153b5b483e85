"""The predictions of an evaluated split as a table: ``predictions.csv``, ``val_predictions.csv`` and k-fold's
``oof_predictions.csv`` share its columns.

One row per image of the split, in the order of ``splits.csv``: ``path``, ``label``, ``class``, ``predicted``
(class name), ``probability`` (of the predicted class), ``prob_<class>`` per class, ``loss`` (cross-entropy of
the true class, without label smoothing), ``correct``, then the sample table's other columns: ``group``,
``fold``, a manifest's metadata. The probabilities are the softmax the module's metrics are computed from
(float32, written exactly), so the metrics of ``results.json`` can be recomputed from the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

TEXT_COLUMNS = {"path": str, "class": str, "predicted": str, "group": str}


def prob_columns(class_names: list[str]) -> list[str]:
    return [f"prob_{name}" for name in class_names]


def prediction_table(rows: pd.DataFrame, logits: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """The predictions table of ``rows`` (one split of the sample table, in dataset order) from their logits.

    Args:
        rows: columns ``path``, ``label`` and optionally ``split`` (dropped), ``group``, ``fold``, metadata.
        logits: (N, C) logits of the rows, in the same order.
        class_names: the C class names in label order.
    """
    if len(rows) != len(logits):
        raise ValueError(f"{len(rows)} rows but {len(logits)} predictions")
    scores = torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32))
    labels = rows["label"].to_numpy(dtype=np.int64, copy=True)
    probabilities = torch.softmax(scores, dim=1)
    losses = F.cross_entropy(scores, torch.from_numpy(labels), reduction="none") if len(labels) else torch.zeros(0)
    predicted = probabilities.argmax(dim=1).numpy()
    values = probabilities.numpy().astype(np.float64)  # float64 holds every float32 exactly: the CSV round-trips
    table = pd.DataFrame({
        "path": rows["path"].to_numpy(),
        "label": labels,
        "class": [class_names[label] for label in labels],
        "predicted": [class_names[index] for index in predicted],
        "probability": values[np.arange(len(values)), predicted],
        **dict(zip(prob_columns(class_names), values.T, strict=True)),
        "loss": losses.numpy().astype(np.float64),
        "correct": predicted == labels,
    })
    for column in rows.columns.drop(["path", "label", "split"], errors="ignore"):  # group, fold, metadata
        table[column] = rows[column].to_numpy()
    return table


def probabilities_of(table: pd.DataFrame, class_names: list[str]) -> np.ndarray:
    """(N, C) class probabilities of a predictions table."""
    return table[prob_columns(class_names)].to_numpy(dtype=np.float64)


def predicted_labels(table: pd.DataFrame, class_names: list[str]) -> np.ndarray:
    index = {name: label for label, name in enumerate(class_names)}
    return np.array([index[name] for name in table["predicted"]], dtype=np.int64)


def read_predictions(path: Path) -> pd.DataFrame:
    """A predictions CSV with its text columns as text (class names such as ``0`` stay names)."""
    return pd.read_csv(path, dtype=TEXT_COLUMNS, keep_default_na=False, encoding="utf-8")


def score_predictions(table: pd.DataFrame, class_names: list[str], prefix: str) -> dict[str, float]:
    """Every metric of the metric table that applies, computed over the rows of a predictions table.

    Used where predictions come from files or from several models (k-fold out-of-fold); the metrics are built
    without cross-process synchronisation, since the table already holds every image.
    """
    from litcls.evaluation.metrics import build_metrics

    metrics = build_metrics(len(class_names), "val", prefix=prefix, sync_on_compute=False)
    metrics.update(torch.from_numpy(probabilities_of(table, class_names)).float(),
                   torch.from_numpy(table["label"].to_numpy(dtype=np.int64, copy=True)))
    return {key: float(value) for key, value in metrics.compute().items()}
