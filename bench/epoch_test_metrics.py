"""A Lightning callback for ``train.py --callbacks epoch_test_metrics:EpochTestMetrics`` (with ``bench/`` on
PYTHONPATH): after every validation, the test accuracy and macro F1 of the weights just validated, and the exact
validation metrics, into ``<run>/epoch_test_metrics.csv``; the run stops once every monitor of ``monitors``
would have stopped it.

Those weights (batch-norm statistics included) are what the best checkpoint would hold if that epoch were
selected, so one run without early stopping tells, for every ``--monitor``, which epoch it would select, when it
would stop and the test metrics ``results.json`` would report (``bench/monitor_choice.py``). The global random
states are restored afterwards, so the training trajectory is the one a run without this callback follows.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

from litcls.data.batching import patience_epochs
from litcls.evaluation.metrics import monitors as directions

VALIDATION = ("val/loss", "val/acc", "val/f1_macro")


def replay(curves: pd.DataFrame, monitor: str, patience: int = 5) -> dict:
    """What a run with ``--monitor monitor --patience patience`` reports, from the curves of the same run
    without early stopping, by Lightning's rules: a strict improvement resets the wait and becomes the best
    checkpoint; the run stops once the wait reaches the patience (raised to cover 50 optimizer steps).
    ``stopped``: whether it stopped within these curves."""
    maximise = directions()[monitor] == "max"
    epochs = patience_epochs(patience, int(curves["steps_per_epoch"].iloc[0]))
    best, best_row, wait = None, 0, 0
    for row in range(len(curves)):
        value = float(curves[monitor].iloc[row])
        if best is None or (value > best if maximise else value < best):
            best, best_row, wait = value, row, 0
        else:
            wait += 1
        if 0 < epochs <= wait:
            break
    return {"test/acc": float(curves["test/acc"].iloc[best_row]),
            "test/f1_macro": float(curves["test/f1_macro"].iloc[best_row]),
            "epochs_trained": row + 1, "best_epoch": int(curves["epoch"].iloc[best_row]) + 1,
            "stopped": 0 < epochs <= wait}


class EpochTestMetrics(L.Callback):
    def __init__(self, monitors: list[str] = VALIDATION, patience: int = 5):
        self.monitors, self.patience, self.rows = list(monitors), patience, []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":  # not the validation of the best checkpoint
            return
        states = torch.get_rng_state(), np.random.get_state(), random.getstate()
        modes = {module: module.training for module in pl_module.modules()}
        pl_module.eval()
        predictions, labels = [], []
        try:
            with torch.no_grad():
                for images, targets in trainer.datamodule.test_dataloader():
                    predictions.append(pl_module(images.to(pl_module.device)).argmax(dim=1).cpu())
                    labels.append(targets)
        finally:
            for module, training in modes.items():
                module.train(training)
            torch.set_rng_state(states[0])
            np.random.set_state(states[1])
            random.setstate(states[2])
        preds, target = torch.cat(predictions), torch.cat(labels)
        classes = len(pl_module.class_names)
        row = {"epoch": trainer.current_epoch, "steps_per_epoch": trainer.num_training_batches,
               **{key: repr(float(trainer.callback_metrics[key])) for key in self.monitors},
               "test/acc": float(multiclass_accuracy(preds, target, classes, average="micro")),
               "test/f1_macro": float(multiclass_f1_score(preds, target, classes, average="macro"))}
        path = Path(trainer.checkpoint_callback.dirpath).parent / "epoch_test_metrics.csv"
        new = not path.is_file()
        with path.open("a", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
        self.rows.append(row)
        curves = pd.DataFrame(self.rows)
        if all(replay(curves, monitor, self.patience)["stopped"] for monitor in self.monitors):
            trainer.should_stop = True
