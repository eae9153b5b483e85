"""A Lightning Trainer from the run configuration: hardware flags, callbacks and loggers."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from litcls.callbacks.confusion_matrix import ConfusionMatrixWriter
from litcls.callbacks.gradcam import GradCAMGallery
from litcls.callbacks.metrics_table import EpochMetricsTable
from litcls.config import MONITORS, TrainConfig
from litcls.tracking import build_loggers


def parse_devices(value: str) -> str | int | list[int]:
    """``auto`` -> ``auto``, ``2`` -> 2 devices, ``0,1`` -> device ids [0, 1]."""
    if value.isdigit():
        return int(value)
    if "," in value:
        return [int(part) for part in value.split(",") if part.strip()]
    return value


def build_callbacks(config: TrainConfig, run_dir: Path) -> list[L.Callback]:
    mode = MONITORS[config.monitor]
    callbacks: list[L.Callback] = [
        ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor=config.monitor, mode=mode,
                        save_top_k=1, save_last=True, auto_insert_metric_name=False, enable_version_counter=False),
        EpochMetricsTable(run_dir / "metrics.csv"),
        ConfusionMatrixWriter(run_dir, every_epoch=config.plots_every_epoch),
        GradCAMGallery(run_dir, per_class=config.gradcam_per_class, mistakes=config.gradcam_mistakes,
                       layer=config.gradcam_layer, every_epoch=config.plots_every_epoch),
    ]
    if config.patience > 0:
        callbacks.append(EarlyStopping(monitor=config.monitor, mode=mode, patience=config.patience))
    return callbacks


def build_trainer(config: TrainConfig, run_dir: Path, steps_per_epoch: int) -> L.Trainer:
    return L.Trainer(
        default_root_dir=run_dir,
        max_epochs=config.epochs,
        accelerator=config.accelerator,
        devices=parse_devices(config.devices),
        strategy=config.strategy,
        num_nodes=config.num_nodes,
        precision=config.precision,
        sync_batchnorm=config.sync_batchnorm,
        accumulate_grad_batches=config.accumulate_grad_batches,
        callbacks=build_callbacks(config, run_dir),
        logger=build_loggers(config, run_dir, job_type=None if config.fold is None else f"fold_{config.fold}") or False,
        log_every_n_steps=max(1, min(50, steps_per_epoch)),
        fast_dev_run=config.fast_dev_run,
    )
