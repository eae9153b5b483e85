"""One line per epoch instead of a progress bar (``--progress lines``; the default off a terminal).

A progress bar redraws itself with carriage returns, which a batch job's log file (SLURM, ``nohup``, CI) keeps as
one enormous line per epoch. This prints one plain line when each epoch ends, from the first process only.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

COLUMNS = (("train/loss", "train loss"), ("val/loss", "val loss"), ("val/acc", "val acc"),
           ("val/f1_macro", "val F1"))


class EpochLines(L.Callback):
    """``epoch 3/30  train loss 0.4123  val loss 0.3012  val acc 0.9123  val F1 0.9100  lr 1.00e-03  4.1 s
    1250 img/s``: seconds for the epoch with its validation, images per second of its training batches. After a
    resume inside an epoch, both count from the first batch trained in this process."""

    def __init__(self) -> None:
        self._started: float | None = None
        self._trained = 0.0
        self._images = 0

    def _start_clock(self) -> None:
        self._started = self._trained = time.perf_counter()
        self._images = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start_clock()

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        if self._started is None:  # resumed inside an epoch: Lightning skips the epoch-start hook
            self._start_clock()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._images += len(batch[0]) * trainer.world_size
        self._trained = time.perf_counter()

    @rank_zero_only
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        started = self._started if self._started is not None else time.perf_counter()
        print(format_line(trainer.current_epoch, trainer.max_epochs, trainer.callback_metrics,
                          time.perf_counter() - started, self._images / max(self._trained - started, 1e-9)),
              flush=True)
        self._started = None


def format_line(epoch: int, epochs: int, metrics: dict, seconds: float, images_per_second: float) -> str:
    parts = [f"epoch {epoch + 1}/{epochs}"]
    parts += [f"{label} {float(metrics[key]):.4f}" for key, label in COLUMNS if key in metrics]
    if "train/lr" in metrics:
        parts.append(f"lr {float(metrics['train/lr']):.2e}")
    parts += [f"{seconds:.1f} s", f"{images_per_second:.0f} img/s"]
    return "  ".join(parts)
