"""Multi-label evaluation, per label: thresholds chosen on validation, temperatures, the predictions table, the
per-label report and the headline metrics at the thresholds. Pure functions of probabilities (or logits) and
targets (N, L) with NaN where a cell is ignored; an ignored cell counts nowhere.

Each label's threshold is chosen on its known validation cells by ``--threshold-rule`` (the rules of
:mod:`litcls.evaluation.threshold`, default ``f1``: with a rare finding Youden's J calls many images positive to
gain a little sensitivity, while F1 weighs the positives called against the false alarms), then frozen and applied
to test. A label without a validation positive or negative keeps 0.5 and a note says so.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.optimize import minimize_scalar
from sklearn.metrics import average_precision_score, roc_auc_score

from litcls.evaluation.calibration import TEMPERATURE_RANGE, fit_temperature
from litcls.evaluation.threshold import ThresholdRule, choose_threshold
from litcls.evaluation.two_class import ratio, two_class_metrics
from litcls.tasks import MultiLabel

TASK = MultiLabel()
DEFAULT_RULE = "f1"
HEADLINE = ("f1_macro", "f1_micro", "f1_samples", "exact_match", "hamming")  # at the thresholds


def prob_columns(names: list[str]) -> list[str]:
    return [f"prob_{name}" for name in names]


def label_thresholds(probabilities: np.ndarray, truth: np.ndarray, rule: ThresholdRule,
                     names: list[str]) -> tuple[list[float], list[str]]:
    """Each label's threshold chosen by ``rule`` on its known validation cells, and notes for labels left at 0.5."""
    thresholds, notes = [], []
    for label, name in enumerate(names):
        known = ~np.isnan(truth[:, label])
        positive = truth[known, label] == 1
        if positive.all() or not positive.any():
            thresholds.append(0.5)
            notes.append(f"label {name!r}: the validation split holds {int(positive.sum())} positive and "
                         f"{int((~positive).sum())} negative known images, so its threshold stays 0.5")
            continue
        threshold, note = choose_threshold(probabilities[known, label], positive, rule)
        thresholds.append(threshold)
        if note:
            notes.append(f"label {name!r}: {note}")
    return thresholds, notes


def fit_label_temperatures(logits: np.ndarray, truth: np.ndarray, fallback: float = 1.0) -> list[float]:
    """One temperature per label, each minimising the NLL of its known validation cells; ``fallback`` where the
    label's cells are all decided right, or it has none (its own NLL would only fall as T shrinks to 0)."""
    temperatures = []
    low, high = (math.log(bound) for bound in TEMPERATURE_RANGE)
    for label in range(logits.shape[1]):
        column, target = logits[:, [label]], truth[:, [label]]
        if np.isnan(target).all() or TASK.all_correct(column, target):
            temperatures.append(fallback)
            continue
        found = minimize_scalar(lambda log_t, c=column, t=target: TASK.nll(c, t, math.exp(log_t)),
                                bounds=(low, high), method="bounded", options={"xatol": 1e-5})
        temperatures.append(float(math.exp(found.x)))
    return temperatures


def calibrate(logits: dict[str, np.ndarray], truth: dict[str, np.ndarray]) -> tuple[list[float], dict[str, Any]]:
    """Per-label temperatures fitted on val (applied; a label without a validation mistake takes the shared one),
    and the shared temperature alone for comparison; NLL and ECE before and after on every split."""
    shared, note = fit_temperature(logits["val"], truth["val"], TASK)
    per_label = fit_label_temperatures(logits["val"], truth["val"], fallback=shared)
    results: dict[str, Any] = {}
    for split in logits:
        results[f"{split}/nll"] = TASK.nll(logits[split], truth[split])
        results[f"{split}/nll_calibrated"] = TASK.nll(logits[split], truth[split], np.asarray(per_label))
        results[f"{split}/nll_shared_temperature"] = TASK.nll(logits[split], truth[split], shared)
        results[f"{split}/ece_calibrated"] = label_ece(TASK.probabilities(logits[split], np.asarray(per_label)),
                                                       truth[split])
    results["calibration"] = {"temperatures": per_label, "fitted_on": "val",
                              "method": "temperature scaling per label, minimising each label's validation NLL; "
                                        "a label without a validation mistake takes the shared temperature",
                              "shared_temperature": shared, **({"shared_note": note} if note else {})}
    return per_label, results


def label_ece(probabilities: np.ndarray, truth: np.ndarray, average: str | None = "macro") -> Any:
    """The metric table's multi-label ``ece`` (per label, or their mean)."""
    from litcls.evaluation.multilabel_metrics import LabelCalibrationError

    metric = LabelCalibrationError(truth.shape[1], average=average, sync_on_compute=False)
    value = metric(torch.from_numpy(np.array(probabilities, dtype=np.float32)),
                   TASK.metric_targets(torch.from_numpy(np.array(truth, dtype=np.float32))))
    return value.numpy().astype(np.float64) if average is None else float(value)


def calls_metrics(probabilities: np.ndarray, truth: np.ndarray, thresholds: list[float]) -> dict[str, float]:
    """F1 (macro, micro, per image), exact match and Hamming loss of the calls at the per-label thresholds."""
    from litcls.evaluation.multilabel_metrics import CallsAtThresholds

    preds = torch.from_numpy(np.array(probabilities, dtype=np.float32))
    target = TASK.metric_targets(torch.from_numpy(np.array(truth, dtype=np.float32)))
    values = {}
    for name in HEADLINE:
        metric = CallsAtThresholds(truth.shape[1], name, torch.tensor(thresholds), sync_on_compute=False)
        values[name] = float(metric(preds, target))
    return values


def prediction_table(rows: pd.DataFrame, probabilities: np.ndarray, names: list[str], thresholds: list[float],
                     truth: np.ndarray | None, logits: np.ndarray | None = None) -> pd.DataFrame:
    """One row per image: ``path``, ``prob_<label>`` (float32 written exactly), ``pred_<label>`` (1 where the
    probability reaches the label's threshold), with the truth ``true_<label>`` (1, 0, blank where ignored) and
    ``loss`` (binary cross-entropy over the image's known cells), then the rows' other columns (group, fold,
    metadata)."""
    values = np.asarray(probabilities, dtype=np.float32).astype(np.float64)
    called = TASK.decide(values, dict(enumerate(thresholds)))
    table = pd.DataFrame({"path": rows["path"].to_numpy()})
    for label, name in enumerate(names):
        table[f"prob_{name}"] = values[:, label]
    for label, name in enumerate(names):
        table[f"pred_{name}"] = called[:, label]
    if truth is not None:
        for label, name in enumerate(names):
            table[f"true_{name}"] = pd.array(np.where(np.isnan(truth[:, label]), pd.NA, truth[:, label]),
                                             dtype="Int64")
        if logits is not None:
            table["loss"] = [TASK.nll(logits[[i]], truth[[i]]) if not np.isnan(truth[i]).all() else np.nan
                             for i in range(len(truth))]
    skip = {"path", "label", "split", *(column for column in rows.columns if column.startswith("target:"))}
    for column in rows.columns:
        if column not in skip:
            table[column] = rows[column].to_numpy()
    return table


def label_report(probabilities: np.ndarray, truth: np.ndarray, thresholds: list[float] | None,
                 names: list[str], called: np.ndarray | None = None) -> pd.DataFrame:
    """``classification_report.csv``: one row per label, named in ``class`` (support = known cells, positives,
    prevalence, AUROC, AP, threshold, sensitivity, specificity, PPV, NPV, F1 at the threshold, ECE), then
    ``macro avg`` (the mean over the labels where each is defined) and ``micro avg`` (every known cell pooled).
    ``called``: the calls as made (k-fold's out-of-fold rows, each at its fold's thresholds; ``thresholds`` None)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if called is None:
        called = TASK.decide(probabilities, dict(enumerate(thresholds)))
    called = np.asarray(called).astype(bool)
    thresholds = thresholds if thresholds is not None else [np.nan] * len(names)
    known = ~np.isnan(truth)
    positive = (truth == 1) & known
    eces = label_ece(probabilities, truth, average=None)
    rows = []
    for label, name in enumerate(names):
        k = known[:, label]
        rows.append({"class": name, **_scores(probabilities[k, label], positive[k, label], called[k, label]),
                     "threshold": thresholds[label], "ece": eces[label]})
    report = pd.DataFrame(rows)
    numeric = report.drop(columns=["class"])
    macro = {"class": "macro avg", **numeric.mean(skipna=True).to_dict()}
    macro["support"], macro["positives"] = int(report["support"].sum()), int(report["positives"].sum())
    macro["threshold"] = np.nan
    micro = {"class": "micro avg", **_scores(probabilities[known], positive[known], called[known]),
             "threshold": np.nan, "ece": np.nan}
    return pd.concat([report, pd.DataFrame([macro, micro])], ignore_index=True)


def _scores(scores: np.ndarray, positive: np.ndarray, called: np.ndarray) -> dict[str, float]:
    """Support, positives, prevalence, AUROC, AP and the metrics of the calls, NaN where undefined."""
    tp, fp = int((positive & called).sum()), int((~positive & called).sum())
    fn, tn = int((positive & ~called).sum()), int((~positive & ~called).sum())
    point = {key: float(value) for key, value in two_class_metrics(tp, fp, fn, tn).items()}
    both = positive.any() and not positive.all()
    return {"support": len(positive), "positives": int(positive.sum()),
            "prevalence": float(ratio(positive.sum(), len(positive))),
            "auroc": float(roc_auc_score(positive, scores)) if both else np.nan,
            "ap": float(average_precision_score(positive, scores)) if positive.any() else np.nan,
            "sensitivity": point["sensitivity"], "specificity": point["specificity"], "ppv": point["ppv"],
            "npv": point["npv"], "f1": point["f1_at_threshold"]}


def score_label_predictions(table: pd.DataFrame, names: list[str], prefix: str,
                            report: Path | None = None) -> dict[str, float]:
    """The metric table's multi-label rows over a predictions table (k-fold's out-of-fold rows), the calls as its
    ``pred_<label>`` columns made them (``<name>_at_thresholds``); with ``report``, its per-label report there."""
    from litcls.evaluation.metrics import build_metrics

    probabilities = table[prob_columns(names)].to_numpy(dtype=np.float32)
    truth = table[[f"true_{name}" for name in names]].to_numpy(dtype=np.float64)
    called = table[[f"pred_{name}" for name in names]].to_numpy(dtype=np.float32)
    metrics = build_metrics(len(names), "val", task=TASK.name, sync_on_compute=False)
    metrics.update(torch.from_numpy(probabilities), TASK.metric_targets(torch.from_numpy(truth.astype(np.float32))))
    scores = {f"{prefix}{key}": float(value) for key, value in metrics.compute().items() if key not in HEADLINE}
    calls = calls_metrics(called, truth, [0.5] * len(names))  # 1 >= 0.5: the calls as they were made
    scores |= {f"{prefix}{key}_at_thresholds": value for key, value in calls.items()}
    if report is not None:
        label_report(probabilities, truth, None, names, called).to_csv(report, index=False, encoding="utf-8")
    return scores
