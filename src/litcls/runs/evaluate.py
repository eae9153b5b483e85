"""After training: the best checkpoint's predictions on the validation split and on the evaluated split (test, or
val without a test split) become the run folder's evaluation files and what they add to ``results.json``.

The predictions come from the run's own ``trainer.validate`` and ``trainer.test`` (the module's metrics, every
image once under DDP), gathered by :class:`~litcls.callbacks.predictions.PredictionCollector`; everything here
runs on rank zero from those arrays, so nothing is predicted twice. What is fitted is fitted on the validation
split only and then frozen: the temperature (calibration) and, for two classes, the operating threshold. The test
split only measures.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from scipy.special import expit, logit

from litcls.callbacks.gradcam_gallery import GradCAMGallery
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
from litcls.files import json_number, write_atomically
from litcls.processes import is_main_process
from litcls.report.figures import plot_reliability
from litcls.report.page import write_run_report
from litcls.report.summary import print_summary
from litcls.runs.build import Run
from litcls.runs.evaluate_multilabel import evaluate_multilabel
from litcls.tasks import SINGLE_LABEL
from litcls.tracking.loggers import log_evaluation_tables, log_image, log_predictions, log_results


def check_evaluation_flags(config: TrainConfig, classes: list[str], task: str = SINGLE_LABEL) -> None:
    """Before training, once the classes (and the task) are known: refuse evaluation flags that do not fit them,
    and say which class a two-class run treats as positive."""
    check_monitor(config.evaluation.monitor, len(classes), task)
    if task != SINGLE_LABEL:
        return
    positive = positive_label(config.evaluation.positive_class, config.evaluation.threshold_rule, classes)
    if positive is not None and is_main_process():
        chosen = ("--positive-class" if config.evaluation.positive_class
                  else "the second class in label order; --positive-class")
        print(f"two classes: positive class {classes[positive]!r} ({chosen} to change); operating threshold by "
              f"{config.evaluation.threshold_rule or DEFAULT_RULE} on the validation split")


def evaluated_split(datamodule: Any) -> str:
    """``test`` when the run has a test split, else ``val``."""
    return "test" if len(datamodule.split("test")) else "val"


def evaluate_best(run: Run, started: float) -> dict:
    """Evaluate the best checkpoint of a fitted run on val (where calibration and thresholds are fitted), then on
    test; write the evaluation files and ``results.json``, log the results, write ``report.html``, print the
    summary. ``started``: :func:`time.perf_counter` when the run began. Returns the results."""
    metrics = best_checkpoint_metrics(run)
    evaluation = evaluate_run(run.config, run.trainer, run.module, run.datamodule, run.run_dir,
                              run.callbacks.predictions.logits, run.callbacks.gallery)
    metrics |= {key: value for key, value in evaluation.items() if "/" in key}
    results = run_results(run.config, run.trainer, metrics, run.run_dir, time.perf_counter() - started)
    results |= {key: value for key, value in evaluation.items() if "/" not in key} | run.extras
    if run.trainer.is_global_zero:
        (run.run_dir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
        log_results(run.trainer.loggers, results)
        write_run_report(run.run_dir)
        print_summary(run.run_dir, results)
    return results


def best_checkpoint_metrics(run: Run) -> dict:
    """The module's metrics of the best checkpoint (the current weights in a fast dev run) on val, and on test when
    there is a test split; with ``--cache-features`` too, on the images through the whole model."""
    trainer, module, datamodule = run.trainer, run.module, run.datamodule
    best_or_current = None if run.config.hardware.fast_dev_run else "best"
    trainer.validate(module, datamodule=datamodule, ckpt_path=best_or_current, verbose=False)
    # the module keeps these val metrics out of the loggers' per-epoch curves: read them from the trainer
    metrics = {key: value for key, value in trainer.callback_metrics.items() if key.startswith("val/")}
    if evaluated_split(datamodule) == "test":
        metrics |= trainer.test(module, datamodule=datamodule, ckpt_path=best_or_current, verbose=False)[0]
    return metrics


def run_results(config: TrainConfig, trainer: L.Trainer, metrics: dict, run_dir: Path, seconds: float) -> dict:
    """``results.json``'s metrics and what the run was: the monitor, best checkpoint, epochs, sizes, time."""
    checkpoint = trainer.checkpoint_callback
    best = checkpoint.best_model_path if checkpoint else ""
    return {
        **{key: json_number(value) for key, value in sorted(metrics.items())},
        "monitor": config.evaluation.monitor,
        "best_score": float(checkpoint.best_model_score) if best else None,
        "best_checkpoint": os.path.relpath(best, run_dir) if best else None,
        "epochs_trained": trainer.current_epoch,
        "preprocessing": trainer.lightning_module.preprocessing.to_dict(),
        "processes": trainer.world_size,
        "effective_batch_size": config.data.batch_size * trainer.world_size * config.hardware.accumulate_grad_batches,
        "seconds": round(seconds, 1),
    }


def evaluate_run(config: TrainConfig, trainer: L.Trainer, module: L.LightningModule, datamodule: Any,
                 run_dir: Path, logits: dict[str, np.ndarray], gallery: GradCAMGallery | None) -> dict:
    """Write the evaluation files of a finished run; return what they add to ``results.json``.

    Call after ``trainer.validate`` (and ``trainer.test`` when there is a test split) of the best checkpoint, with
    the logits they produced by split (:attr:`~litcls.callbacks.predictions.PredictionCollector.logits`) and the
    gallery that draws the Grad-CAM overlays (None: none). Writes ``val_predictions.csv``; ``predictions.csv`` of
    the evaluated split, its confusion matrix, per-class report, ``roc.png``, ``pr.png``, ``reliability.png``,
    ``slices.csv`` (groups, ``--slice-cols``) and the Grad-CAM gallery; and stores the temperature and threshold in
    the best checkpoint.
    Other processes of a DDP run, and fast dev runs, write nothing and get {}.
    """
    if not trainer.is_global_zero or "val" not in logits:
        return {}
    split = evaluated_split(datamodule)
    names = list(module.class_names)
    if module.task.multi_hot:
        results, decision = evaluate_multilabel(config, {name: datamodule.split(name) for name in ("val", split)},
                                                names, logits, split, run_dir)
        _label_gallery(gallery, trainer, module, datamodule, split, logits[split], decision, run_dir)
        _store_decision(trainer, module, decision)
        return _json_safe(results)
    logits = {name: logits[name] for name in ("val", split)}
    tables = {name: prediction_table(datamodule.split(name), logits[name], names) for name in logits}
    labels = {name: table["label"].to_numpy() for name, table in tables.items()}
    table = tables[split]
    probabilities = probabilities_of(table, names)

    temperature, results = _calibrate(logits, labels)
    positive = positive_label(config.evaluation.positive_class, config.evaluation.threshold_rule, names)
    decision, point = _decide(config, tables, names, positive, temperature, results, split)
    if split == "val":
        results["notes"] = results.get("notes", []) + [
            "no test split: the temperature and threshold are measured on the validation split they were fitted on, "
            "so their numbers are optimistic"]
    groups = table["group"].to_numpy() if "group" in table else None
    if config.evaluation.bootstrap:
        results["confidence_intervals"] = _intervals(config, labels[split], probabilities, groups, positive,
                                                     decision.get("threshold"), split)
    _write_split_files(trainer, run_dir, split, names, table, probabilities, logits[split], temperature, positive,
                       point, results)
    sliced = (["group"] if groups is not None else []) + slice_columns(config.data)
    if sliced:
        slices_table(table, sliced).to_csv(run_dir / "slices.csv", index=False, encoding="utf-8")

    tables["val"].to_csv(run_dir / "val_predictions.csv", index=False, encoding="utf-8")
    table["gradcam"] = _gallery(gallery, trainer, module, datamodule.datasets[split], probabilities, labels[split],
                                run_dir, split)
    table.to_csv(run_dir / "predictions.csv", index=False, encoding="utf-8")
    log_predictions(trainer.loggers, split, table, labels[split], probabilities, names)
    _store_decision(trainer, module, decision)
    return _json_safe(results)


def _decide(config: TrainConfig, tables: dict[str, pd.DataFrame], names: list[str], positive: int | None,
            temperature: float, results: dict[str, Any], split: str) -> tuple[dict[str, Any], dict | None]:
    """What predict.py will apply (the temperature; for two classes the operating threshold, whose metrics on every
    split go into ``results``), and the operating point to mark on the evaluated split's curves (or None)."""
    decision: dict[str, Any] = {"temperature": temperature}
    if positive is None:
        return decision, None
    rule = parse_rule(config.evaluation.threshold_rule or DEFAULT_RULE)
    operating = _operating_point(tables, names, positive, rule, temperature)
    results |= operating.pop("metrics")
    results["operating_point"] = operating
    if "few_images" in operating:
        results["notes"] = results.get("notes", []) + [operating["few_images"]]
    decision |= {key: operating[key] for key in ("positive_class", "threshold", "threshold_calibrated")}
    decision["threshold_rule"] = operating["rule"]
    point = {"threshold": operating["threshold"],
             **{name: results[f"{split}/{name}"] for name in ("sensitivity", "specificity", "ppv")}}
    return decision, point


def _intervals(config: TrainConfig, labels: np.ndarray, probabilities: np.ndarray, groups: np.ndarray | None,
               positive: int | None, threshold: float | None, split: str) -> dict[str, Any]:
    """``--bootstrap`` intervals of the evaluated split's metrics (whole groups resampled when there are groups)."""
    replicates, seed = config.evaluation.bootstrap, config.data.seed
    intervals = bootstrap_intervals(labels, probabilities, replicates, seed, groups, positive, threshold)
    return {"level": LEVEL, "method": "percentile bootstrap", "replicates": replicates, "seed": seed,
            "resampled": "groups" if groups is not None else "images", "split": split,
            "metrics": {f"{split}/{name}": interval for name, interval in intervals.items()}}


def _write_split_files(trainer: L.Trainer, run_dir: Path, split: str, names: list[str], table: pd.DataFrame,
                       probabilities: np.ndarray, logits: np.ndarray, temperature: float, positive: int | None,
                       point: dict | None, results: dict[str, Any]) -> None:
    """The evaluated split's confusion matrix, per-class report, curves and reliability diagram, logged too; the
    report and its notes go into ``results``."""
    labels = table["label"].to_numpy()
    written = write_split_report(run_dir, labels, predicted_labels(table, names), names, f"{split} split",
                                 probabilities=probabilities, split=split, curves=True, positive=positive,
                                 point=point)
    results["classification_report"] = {"split": split, "rows": written.report.to_dict("records")}
    if written.notes:
        results["notes"] = results.get("notes", []) + written.notes
    written.figures["reliability"] = plot_reliability(labels, [
        ("before calibration", probabilities, expected_calibration_error(probabilities, labels)),
        ("after: T = 1, nothing fitted (no validation mistake)" if "note" in results["calibration"] else
         f"after: T = {temperature:.3f} (fitted on val)", calibrated_probabilities(logits, temperature),
         results[f"{split}/ece_calibrated"])], f"{split} split, 15 bins", run_dir / "reliability.png")
    for name, pixels in written.figures.items():
        log_image(trainer.loggers, f"{split}/{name}", pixels, trainer.global_step)
    log_evaluation_tables(trainer.loggers, split, written.counts, names, written.report)


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


def _gallery(gallery: GradCAMGallery | None, trainer: L.Trainer, module: L.LightningModule, dataset: Any,
             probabilities: np.ndarray, labels: np.ndarray, run_dir: Path, split: str) -> pd.Series:
    """Draw the Grad-CAM gallery on the training device; return each row's overlays (relative paths joined by
    ';', or '')."""
    files = pd.Series("", index=range(len(labels)), dtype=object)
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


def _label_gallery(gallery: GradCAMGallery | None, trainer: L.Trainer, module: L.LightningModule, datamodule: Any,
                   split: str, logits: np.ndarray, decision: dict[str, Any], run_dir: Path) -> None:
    """Multi-label: the Grad-CAM gallery of each image's called labels (at the thresholds, on the model's own
    probabilities, as predictions.csv calls them); the overlays go into predictions.csv's ``gradcam`` column."""
    if gallery is None:
        return
    names = list(module.class_names)
    truth = module.task.truth(datamodule.split(split), names)
    thresholds = [decision["thresholds"][name] for name in names]
    module.to(trainer.strategy.root_device)
    try:
        written = gallery.explain_labels(module, datamodule.datasets[split], module.task.probabilities(logits),
                                         truth, thresholds, run_dir / "gradcam", trainer.loggers,
                                         trainer.global_step, split)
    finally:
        module.cpu()
    if not written:
        return
    table = pd.read_csv(run_dir / "predictions.csv", keep_default_na=False, dtype=str)
    files = pd.Series("", index=table.index, dtype=object)
    for index, path in written:
        files[index] = ";".join(filter(None, [files[index], path.relative_to(run_dir).as_posix()]))
    table["gradcam"] = files
    table.to_csv(run_dir / "predictions.csv", index=False, encoding="utf-8")


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
