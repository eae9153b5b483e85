"""After training a multi-label run: per-label temperatures and thresholds fitted on the validation split and
frozen, then the evaluated split measured at them. Writes ``val_predictions.csv``, ``predictions.csv``,
``classification_report.csv`` (a row per label, then the macro and micro rows), ``label_counts.csv`` and the
per-label curve grids ``roc.png`` and ``pr.png``; returns what goes into
``results.json`` and the decision the best checkpoint keeps for prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from litcls.config import TrainConfig
from litcls.evaluation.bootstrap import LEVEL, multilabel_intervals
from litcls.evaluation.multilabel import (
    DEFAULT_RULE,
    TASK,
    calibrate,
    calls_metrics,
    label_report,
    label_thresholds,
    prediction_table,
)
from litcls.evaluation.threshold import parse_rule
from litcls.report.label_figures import label_counts, plot_label_curves


def evaluate_multilabel(config: TrainConfig, rows: dict[str, pd.DataFrame], names: list[str],
                        logits: dict[str, np.ndarray], split: str, run_dir: Path) -> tuple[dict[str, Any], dict]:
    """The evaluation files of a multi-label run's ``val`` and evaluated ``split`` (``rows`` and ``logits`` by
    split); returns the results and the decision (per-label temperatures and thresholds)."""
    truth = {name: TASK.truth(rows[name], names) for name in rows}
    probabilities = {name: TASK.probabilities(logits[name]) for name in rows}
    temperatures, results = calibrate(logits, truth)
    rule = parse_rule(config.evaluation.threshold_rule or DEFAULT_RULE)
    thresholds, notes = label_thresholds(probabilities["val"], truth["val"], rule, names)
    calibrated = [threshold if threshold > 1 else float(expit(logit(threshold) / temperature))
                  for threshold, temperature in zip(thresholds, temperatures, strict=True)]
    for name in rows:
        results |= {f"{name}/{key}_at_thresholds": value
                    for key, value in calls_metrics(probabilities[name], truth[name], thresholds).items()}
    results["thresholds"] = {"rule": str(rule), "chosen_on": "val", "applies_to": "prob_<label> >= threshold",
                             "by_label": dict(zip(names, thresholds, strict=True))}
    report = label_report(probabilities[split], truth[split], thresholds, names)
    report.to_csv(run_dir / "classification_report.csv", index=False, encoding="utf-8")
    write_label_figures(truth[split], probabilities[split], thresholds, names, split, run_dir)
    results["classification_report"] = {"split": split, "rows": report.to_dict("records")}
    absent = [name for name, positives in zip(names, report["positives"], strict=False) if not positives]
    if absent:
        notes.append(f"no positive {split} image for {', '.join(map(repr, absent))}: their AUROC, AP, sensitivity "
                     "and F1 are empty")
    if split == "val":
        notes.append("no test split: the temperatures and thresholds are measured on the validation split they "
                     "were fitted on, so their numbers are optimistic")
    if notes:
        results["notes"] = notes
    if config.evaluation.bootstrap:
        groups = rows[split]["group"].to_numpy() if "group" in rows[split] else None
        intervals = multilabel_intervals(truth[split], probabilities[split], np.asarray(thresholds),
                                         config.evaluation.bootstrap, config.data.seed, groups)
        results["confidence_intervals"] = {
            "level": LEVEL, "method": "percentile bootstrap", "replicates": config.evaluation.bootstrap,
            "seed": config.data.seed, "resampled": "groups" if groups is not None else "images", "split": split,
            "metrics": {f"{split}/{name}": interval for name, interval in intervals.items()}}
    for name, file in (("val", "val_predictions.csv"), (split, "predictions.csv")):
        table = prediction_table(rows[name], probabilities[name], names, thresholds, truth[name], logits[name])
        table.to_csv(run_dir / file, index=False, encoding="utf-8")
    decision = {"temperatures": dict(zip(names, temperatures, strict=True)), "threshold_rule": str(rule),
                "thresholds": dict(zip(names, thresholds, strict=True)),
                "thresholds_calibrated": dict(zip(names, calibrated, strict=True))}
    return results, decision


def write_label_figures(truth: np.ndarray, probabilities: np.ndarray, thresholds: list[float], names: list[str],
                        split: str, run_dir: Path) -> None:
    """``label_counts.csv`` (TP, FP, FN, TN per label at its threshold) and the per-label grids ``roc.png`` and
    ``pr.png`` of the evaluated split: what a single-label run's confusion matrix and curves show."""
    label_counts(truth, probabilities, thresholds, names).to_csv(run_dir / "label_counts.csv", index=False,
                                                                 encoding="utf-8")
    for kind in ("roc", "pr"):
        plot_label_curves(kind, truth, probabilities, thresholds, names, f"{split} split", run_dir / f"{kind}.png")
