"""After training: the best checkpoint's predictions on the validation split and on the evaluated split (test, or
val without a test split) become the run folder's evaluation files and what they add to ``results.json``.

The predictions come from the run's own ``trainer.validate`` and ``trainer.test`` (the module's metrics, every
image once under DDP), gathered by :class:`~litcls.callbacks.predictions.PredictionCollector`; everything here
runs on rank zero from those arrays, so nothing is predicted twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import lightning as L
import numpy as np
import pandas as pd

from litcls.callbacks.gradcam import GradCAMGallery
from litcls.callbacks.predictions import PredictionCollector
from litcls.evaluation.predictions import predicted_labels, prediction_table, probabilities_of
from litcls.evaluation.writer import write_split_report
from litcls.tracking import log_evaluation_tables, log_image

C = TypeVar("C", bound=L.Callback)


def evaluated_split(datamodule: Any) -> str:
    """``test`` when the run has a test split, else ``val``."""
    return "test" if len(datamodule.split("test")) else "val"


def _callback(trainer: L.Trainer, kind: type[C]) -> C | None:
    return next((callback for callback in trainer.callbacks if isinstance(callback, kind)), None)


def evaluate_run(trainer: L.Trainer, module: L.LightningModule, datamodule: Any, run_dir: Path) -> dict:
    """Write the evaluation files of a finished run; return what they add to ``results.json``.

    Call after ``trainer.validate`` (and ``trainer.test`` when there is a test split) of the best checkpoint.
    Writes ``val_predictions.csv``, ``predictions.csv`` (the evaluated split), its confusion matrix and per-class
    report, and the Grad-CAM gallery. Other processes of a DDP run, and fast dev runs, write nothing and get {}.
    """
    collector = _callback(trainer, PredictionCollector)
    if collector is None or not trainer.is_global_zero or "val" not in collector.logits:
        return {}
    split = evaluated_split(datamodule)
    names = list(module.class_names)
    tables = {name: prediction_table(datamodule.split(name), collector.logits[name], names) for name in ("val", split)}
    table = tables[split]
    labels = table["label"].to_numpy()

    written = write_split_report(run_dir, labels, predicted_labels(table, names), names, f"{split} split")
    log_image(trainer.loggers, f"{split}/confusion_matrix", written.figure, trainer.global_step)
    log_evaluation_tables(trainer.loggers, split, written.counts, names, written.report)

    tables["val"].to_csv(run_dir / "val_predictions.csv", index=False, encoding="utf-8")
    table["gradcam"] = _gallery(trainer, module, datamodule.datasets[split], probabilities_of(table, names), labels,
                                run_dir, split)
    table.to_csv(run_dir / "predictions.csv", index=False, encoding="utf-8")
    return {"classification_report": {"split": split, "rows": written.report.to_dict("records")}}


def _gallery(trainer: L.Trainer, module: L.LightningModule, dataset: Any, probabilities: np.ndarray,
             labels: np.ndarray, run_dir: Path, split: str) -> pd.Series:
    """Draw the Grad-CAM gallery on the training device; return each row's overlay (relative path, or '')."""
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
    for index, path in written.items():
        files[index] = path.relative_to(run_dir).as_posix()
    return files
