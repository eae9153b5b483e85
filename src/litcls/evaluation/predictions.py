"""The predictions of an evaluated split as a table: ``predictions.csv``, ``val_predictions.csv``, k-fold's
``oof_predictions.csv`` and ``predict.py``'s ``predictions.csv`` share its columns.

One row per image of the split, in the order of ``splits.csv``: ``path``, ``label``, ``class``, ``predicted``
(class name), ``probability`` (of the predicted class), ``prob_<class>`` per class, ``loss`` (cross-entropy of
the true class, without label smoothing), ``correct``, then the sample table's other columns: ``group``,
``fold``, a manifest's metadata. The probabilities are the softmax the module's metrics are computed from
(float32, written exactly), so the metrics of ``results.json`` can be recomputed from the file. Images without a
known class (``predict.py`` on unlabelled images) get the prediction columns only.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from litcls.tasks import SingleLabel

TEXT_COLUMNS = {"path": str, "class": str, "predicted": str, "group": str}


def prob_columns(class_names: list[str]) -> list[str]:
    return [f"prob_{name}" for name in class_names]


def prediction_table(rows: pd.DataFrame, logits: np.ndarray, class_names: list[str],
                     temperature: float = 1.0) -> pd.DataFrame:
    """The predictions table of ``rows`` (one split of the sample table, or predict.py's images, in dataset order)
    from their logits.

    Args:
        rows: columns ``path`` and optionally ``label`` (without it, the table has no ``label``, ``class``,
            ``loss`` and ``correct``), ``split`` (dropped), ``group``, ``fold``, metadata.
        logits: (N, C) logits of the rows, in the same order; or (V, N, C), V views of each image (test-time
            augmentation), whose probabilities are averaged.
        class_names: the C class names in label order.
        temperature: the logits are divided by it (calibration); 1 leaves them as the module's metrics saw them.
    """
    views = torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32))
    views = (views if views.dim() == 3 else views.unsqueeze(0)) / temperature
    if len(rows) != views.shape[1]:
        raise ValueError(f"{len(rows)} rows but {views.shape[1]} predictions")
    task = SingleLabel()
    probabilities = task.probabilities(views).mean(dim=0)  # one view: its probabilities, exactly
    predicted = task.decide(probabilities).numpy()
    values = probabilities.numpy().astype(np.float64)  # float64 holds every float32 exactly: the CSV round-trips
    table = pd.DataFrame({"path": rows["path"].to_numpy()})
    if "label" in rows:
        labels = rows["label"].to_numpy(dtype=np.int64, copy=True)
        table["label"] = labels
        table["class"] = [class_names[label] for label in labels]
    table["predicted"] = [class_names[index] for index in predicted]
    table["probability"] = values[np.arange(len(values)), predicted]
    for column, column_values in zip(prob_columns(class_names), values.T, strict=True):
        table[column] = column_values
    if "label" in rows:
        # log of the views' mean probability; with one view the cross-entropy the module's loss computes
        log_probabilities = torch.logsumexp(task.log_probabilities(views), dim=0) - math.log(len(views))
        losses = F.nll_loss(log_probabilities, torch.from_numpy(labels), reduction="none") if len(labels) \
            else torch.zeros(0)
        table["loss"] = losses.numpy().astype(np.float64)
        table["correct"] = predicted == labels
    for column in rows.columns.drop(["path", "label", "split"], errors="ignore"):  # group, fold, metadata
        table[column] = rows[column].to_numpy()
    return table


def probabilities_of(table: pd.DataFrame, class_names: list[str]) -> np.ndarray:
    """(N, C) class probabilities of a predictions table."""
    return table[prob_columns(class_names)].to_numpy(dtype=np.float64)


def predicted_labels(table: pd.DataFrame, class_names: list[str]) -> np.ndarray:
    index = {name: label for label, name in enumerate(class_names)}
    return np.array([index[name] for name in table["predicted"]], dtype=np.int64)


def read_predictions(path: Path, class_names: list[str] | None = None) -> pd.DataFrame:
    """A predictions CSV with its text columns as text (class names such as ``0`` stay names).

    Given the class names, a k-fold ``val_predictions.csv`` written before the decision evaluation (columns
    ``pred``, ``pred_class``, ``prob_<class>``) is read into today's columns (:func:`from_older_columns`).
    """
    table = pd.read_csv(path, dtype=TEXT_COLUMNS, keep_default_na=False, encoding="utf-8")
    older = ["path", "label", "pred", *prob_columns(class_names or [])]
    if class_names is not None and "predicted" not in table and set(older) <= set(table.columns):
        table = from_older_columns(table, class_names)
    return table


def from_older_columns(table: pd.DataFrame, class_names: list[str]) -> pd.DataFrame:
    """Today's columns from those litcls wrote before (``path``, ``label``, ``class``, ``fold``, ``pred``, its
    ``pred_class`` and the softmax ``prob_<class>``): the same predictions and probabilities, so every metric
    computed from them is unchanged. ``loss`` is -log of the true class's probability as written (float32,
    printed to about 8 digits), so it can differ from a cross-entropy of the logits in the last digits."""
    probabilities = table[prob_columns(class_names)].to_numpy(dtype=np.float64)
    predicted = table["pred"].to_numpy(dtype=np.int64)
    labels = table["label"].to_numpy(dtype=np.int64)
    rows = np.arange(len(table))
    upgraded = pd.DataFrame({
        "path": table["path"].to_numpy(), "label": labels, "class": [class_names[label] for label in labels],
        "predicted": [class_names[index] for index in predicted], "probability": probabilities[rows, predicted]})
    upgraded[prob_columns(class_names)] = probabilities
    with np.errstate(divide="ignore"):
        upgraded["loss"] = -np.log(probabilities[rows, labels])
    upgraded["correct"] = predicted == labels
    for column in ("group", "fold"):
        if column in table:
            upgraded[column] = table[column].to_numpy()
    return upgraded


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
