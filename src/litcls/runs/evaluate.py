"""After training: the best checkpoint's predictions on the validation split and on the evaluated split (test, or
val without a test split) become the run folder's evaluation files and what they add to ``results.json``.

The predictions come from the run's own ``trainer.validate`` and ``trainer.test`` (the module's metrics, every
image once under DDP), gathered by :class:`~litcls.callbacks.predictions.PredictionCollector`; everything here
runs on rank zero from those arrays, so nothing is predicted twice. What is fitted is fitted on the validation
split only and then frozen: the temperature (calibration) and, for two classes, the operating threshold. The test
split only measures.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, TypeVar

import lightning as L
import numpy as np
import pandas as pd
import torch
from scipy.special import expit, logit

from litcls.callbacks.gradcam_gallery import GradCAMGallery
from litcls.callbacks.predictions import PredictionCollector
from litcls.config import TrainConfig
from litcls.evaluation.bootstrap import LEVEL, bootstrap_intervals
from litcls.evaluation.calibration import (
    calibrated_probabilities,
    calibration_metrics,
    expected_calibration_error,
    fit_temperature,
)
from litcls.evaluation.metrics import check_monitor
from litcls.evaluation.predictions import predicted_labels, prediction_table, probabilities_of
from litcls.evaluation.slices import slice_columns, slices_table
from litcls.evaluation.threshold import (
    DEFAULT_RULE,
    ThresholdRule,
    called_at_threshold,
    choose_threshold,
    few_images_warning,
    parse_rule,
    point_metrics,
    positive_label,
)
from litcls.evaluation.writer import write_split_report
from litcls.files import write_atomically
from litcls.processes import is_main_process
from litcls.report.figures import plot_reliability
from litcls.tracking.loggers import log_evaluation_tables, log_image, log_predictions

C = TypeVar("C", bound=L.Callback)


def check_evaluation_flags(config: TrainConfig, classes: list[str]) -> None:
    """Before training, once the classes are known: refuse evaluation flags that do not fit them, and say which
    class a two-class run treats as positive."""
    check_monitor(config.monitor, len(classes))
    positive = positive_label(config.positive_class, config.threshold_rule, classes)
    if positive is not None and is_main_process():
        chosen = "--positive-class" if config.positive_class else "the second class in label order; --positive-class"
        print(f"two classes: positive class {classes[positive]!r} ({chosen} to change); operating threshold by "
              f"{config.threshold_rule or DEFAULT_RULE} on the validation split")


def evaluated_split(datamodule: Any) -> str:
    """``test`` when the run has a test split, else ``val``."""
    return "test" if len(datamodule.split("test")) else "val"


def _callback(trainer: L.Trainer, kind: type[C]) -> C | None:
    return next((callback for callback in trainer.callbacks if isinstance(callback, kind)), None)


def evaluate_run(config: TrainConfig, trainer: L.Trainer, module: L.LightningModule, datamodule: Any,
                 run_dir: Path) -> dict:
    """Write the evaluation files of a finished run; return what they add to ``results.json``.

    Call after ``trainer.validate`` (and ``trainer.test`` when there is a test split) of the best checkpoint.
    Writes ``val_predictions.csv``; ``predictions.csv`` of the evaluated split, its confusion matrix, per-class
    report, ``roc.png``, ``pr.png``, ``reliability.png``, ``slices.csv`` (groups, ``--slice-cols``) and the
    Grad-CAM gallery; and stores the temperature and threshold in the best checkpoint. Other processes of a DDP
    run, and fast dev runs, write nothing and get {}.
    """
    collector = _callback(trainer, PredictionCollector)
    if collector is None or not trainer.is_global_zero or "val" not in collector.logits:
        return {}
    split = evaluated_split(datamodule)
    names = list(module.class_names)
    logits = {name: collector.logits[name] for name in ("val", split)}
    tables = {name: prediction_table(datamodule.split(name), logits[name], names) for name in logits}
    labels = {name: table["label"].to_numpy() for name, table in tables.items()}
    table = tables[split]
    probabilities = probabilities_of(table, names)

    temperature, results = _calibrate(logits, labels)
    decision: dict[str, Any] = {"temperature": temperature}
    positive = positive_label(config.positive_class, config.threshold_rule, names)
    point = None  # the operating point on the evaluated split, marked on its curves
    if positive is not None:
        rule = parse_rule(config.threshold_rule or DEFAULT_RULE)
        operating = _operating_point(tables, names, positive, rule, temperature)
        results |= operating.pop("metrics")
        results["operating_point"] = operating
        if "few_images" in operating:
            results["notes"] = results.get("notes", []) + [operating["few_images"]]
        decision |= {key: operating[key] for key in ("positive_class", "threshold", "threshold_calibrated")}
        decision["threshold_rule"] = operating["rule"]
        point = {"threshold": operating["threshold"],
                 **{name: results[f"{split}/{name}"] for name in ("sensitivity", "specificity", "ppv")}}
    if split == "val":
        results["notes"] = results.get("notes", []) + [
            "no test split: the temperature and threshold are measured on the validation split they were fitted on, "
            "so their numbers are optimistic"]

    groups = table["group"].to_numpy() if "group" in table else None
    if config.bootstrap:
        intervals = bootstrap_intervals(labels[split], probabilities, config.bootstrap, config.seed, groups,
                                        positive, decision.get("threshold"))
        results["confidence_intervals"] = {
            "level": LEVEL, "method": "percentile bootstrap", "replicates": config.bootstrap, "seed": config.seed,
            "resampled": "groups" if groups is not None else "images", "split": split,
            "metrics": {f"{split}/{name}": interval for name, interval in intervals.items()}}

    written = write_split_report(run_dir, labels[split], predicted_labels(table, names), names, f"{split} split",
                                 probabilities=probabilities, split=split, curves=True, positive=positive,
                                 point=point)
    results["classification_report"] = {"split": split, "rows": written.report.to_dict("records")}
    if written.notes:
        results["notes"] = results.get("notes", []) + written.notes
    written.figures["reliability"] = plot_reliability(labels[split], [
        ("before calibration", probabilities, expected_calibration_error(probabilities, labels[split])),
        ("after: T = 1, nothing fitted (no validation mistake)" if "note" in results["calibration"] else
         f"after: T = {temperature:.3f} (fitted on val)", calibrated_probabilities(logits[split], temperature),
         results[f"{split}/ece_calibrated"])], f"{split} split, 15 bins", run_dir / "reliability.png")
    for name, pixels in written.figures.items():
        log_image(trainer.loggers, f"{split}/{name}", pixels, trainer.global_step)
    log_evaluation_tables(trainer.loggers, split, written.counts, names, written.report)
    sliced = (["group"] if groups is not None else []) + slice_columns(config)
    if sliced:
        slices_table(table, sliced).to_csv(run_dir / "slices.csv", index=False, encoding="utf-8")

    tables["val"].to_csv(run_dir / "val_predictions.csv", index=False, encoding="utf-8")
    table["gradcam"] = _gallery(trainer, module, datamodule.datasets[split], probabilities, labels[split], run_dir,
                                split)
    table.to_csv(run_dir / "predictions.csv", index=False, encoding="utf-8")
    log_predictions(trainer.loggers, split, table, labels[split], probabilities, names)
    _store_decision(trainer, module, decision)
    return _json_safe(results)


def _calibrate(logits: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> tuple[float, dict[str, Any]]:
    """The temperature fitted on val, and ECE and NLL before and after on every split (``<split>/nll``, ...)."""
    temperature, note = fit_temperature(logits["val"], labels["val"])
    results: dict[str, Any] = {}
    for name in logits:
        values = calibration_metrics(logits[name], labels[name], temperature)
        # the uncalibrated ECE is the module's own <split>/ece
        results |= {f"{name}/{key}": value for key, value in values.items() if key != "ece"}
    results["calibration"] = {"temperature": temperature, "fitted_on": "val",
                              "method": "temperature scaling, minimising the validation NLL",
                              **({"note": note} if note else {})}
    return temperature, results


def _operating_point(tables: dict[str, pd.DataFrame], names: list[str], positive: int, rule: ThresholdRule,
                     temperature: float) -> dict[str, Any]:
    """Choose the threshold on the validation predictions, then measure it on every split (``metrics``).

    Adds ``predicted_at_threshold`` to every table.
    """
    scores = {name: probabilities_of(table, names)[:, positive] for name, table in tables.items()}
    truth = {name: table["label"].to_numpy() == positive for name, table in tables.items()}
    threshold, note = choose_threshold(scores["val"], truth["val"], rule)
    counts = {"positive": int(truth["val"].sum()), "negative": int((~truth["val"]).sum())}
    few = few_images_warning(counts["positive"], counts["negative"], names[positive], names[1 - positive])
    metrics = {}
    for name, table in tables.items():
        measured = point_metrics(scores[name], truth[name], threshold)
        metrics |= {f"{name}/{key}": value for key, value in measured.items()}
        table["predicted_at_threshold"] = called_at_threshold(scores[name], threshold, names, positive)
    return {"positive_class": names[positive], "rule": str(rule), "chosen_on": "val", "threshold": threshold,
            "threshold_calibrated": _calibrated_threshold(threshold, temperature),
            "applies_to": f"prob_{names[positive]} >= threshold", "val_images": counts,
            **({"note": note} if note else {}), **({"few_images": few} if few else {}), "metrics": metrics}


def _calibrated_threshold(threshold: float, temperature: float) -> float:
    """The threshold on the calibrated probability that calls the same images positive: in two classes the
    probability is sigmoid(margin), calibrated sigmoid(margin / T), so the margin at the threshold carries over."""
    if threshold > 1:  # above every probability: nothing is called positive, calibrated or not
        return threshold
    return float(expit(logit(threshold) / temperature))


def _gallery(trainer: L.Trainer, module: L.LightningModule, dataset: Any, probabilities: np.ndarray,
             labels: np.ndarray, run_dir: Path, split: str) -> pd.Series:
    """Draw the Grad-CAM gallery on the training device; return each row's overlays (relative paths joined by
    ';', or '')."""
    files = pd.Series("", index=range(len(labels)), dtype=object)
    gallery = _callback(trainer, GradCAMGallery)
    if gallery is None:
        return files
    module.to(trainer.strategy.root_device)  # Lightning left it on the CPU after testing
    try:
        written = gallery.explain(module, dataset, probabilities, labels, run_dir / "gradcam", trainer.loggers,
                                  trainer.global_step, split)
    finally:
        module.cpu()
    for index, path in written:
        files[index] = ";".join(filter(None, [files[index], path.relative_to(run_dir).as_posix()]))
    return files


def _store_decision(trainer: L.Trainer, module: L.LightningModule, decision: dict[str, Any]) -> None:
    """Put the temperature and threshold into the best checkpoint (``decision``), where predict.py reads them."""
    module.decision = dict(decision)
    callback = trainer.checkpoint_callback
    path = Path(callback.best_model_path) if callback and callback.best_model_path else None
    if path is None or not path.is_file():
        return
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    checkpoint["decision"] = dict(decision)
    write_atomically(path, lambda temporary: torch.save(checkpoint, temporary))  # never a half-written checkpoint


def _json_safe(value: Any) -> Any:
    """NaN (a metric undefined on the split) as null: JSON has no NaN."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
