"""A Lightning Trainer from the run configuration: hardware flags, callbacks and loggers."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import lightning as L
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info

import litcls.quiet  # noqa: F401  (Lightning's messages a user can do nothing about)
from litcls.callbacks.ema import EMA
from litcls.callbacks.epoch_lines import EpochLines
from litcls.callbacks.freeze_backbone import BackboneFreeze
from litcls.callbacks.graceful_stop import GracefulStop
from litcls.callbacks.gradcam_gallery import GradCAMGallery
from litcls.callbacks.metrics_table import EpochMetricsTable
from litcls.callbacks.precise_bn import PreciseBatchNorm
from litcls.callbacks.prediction_collapse import PredictionCollapseWarning
from litcls.callbacks.predictions import PredictionCollector
from litcls.callbacks.resume_state import ResumeState
from litcls.config import HardwareSettings, TrainConfig
from litcls.data.batching import MIN_PATIENCE_STEPS, PRECISE_BN_BELOW_STEPS, patience_epochs
from litcls.devices import parse_devices
from litcls.errors import UserError
from litcls.evaluation.settings import MONITORS
from litcls.plugins import load_callbacks
from litcls.tracking.loggers import build_loggers


@dataclass(frozen=True)
class KeptCallbacks:
    """The callbacks a run reads back after fitting: the logits the evaluation is handed, the gallery that draws
    its Grad-CAM overlays, and the stop request of SIGTERM or Ctrl+C."""

    predictions: PredictionCollector
    gallery: GradCAMGallery
    stop: GracefulStop


def kept_callbacks(config: TrainConfig, run_dir: Path) -> KeptCallbacks:
    evaluation = config.evaluation
    predictions = PredictionCollector(run_dir, every_epoch=evaluation.plots_every_epoch)
    gallery = GradCAMGallery(run_dir, per_class=evaluation.gradcam_per_class, mistakes=evaluation.gradcam_mistakes,
                             layer=evaluation.gradcam_layer, every_epoch=evaluation.plots_every_epoch,
                             predictions=predictions)
    return KeptCallbacks(predictions, gallery, GracefulStop(run_dir))


def build_callbacks(config: TrainConfig, run_dir: Path, steps_per_epoch: int, kept: KeptCallbacks) -> list[L.Callback]:
    mode = MONITORS[config.evaluation.monitor]
    callbacks: list[L.Callback] = [
        ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor=config.evaluation.monitor, mode=mode,
                        save_top_k=1, save_last=True, auto_insert_metric_name=False, enable_version_counter=False,
                        # after metrics.csv has its row for the epoch (checkpoint callbacks run last), so a run
                        # killed in between repeats the epoch rather than missing its row
                        save_on_train_epoch_end=True),
        EpochMetricsTable(run_dir / "metrics.csv"),
        kept.predictions,
        kept.gallery,
        kept.stop,
        ResumeState(),
        PredictionCollapseWarning(),
    ]
    patience = patience_epochs(config.recipe.patience, steps_per_epoch)
    if patience > 0:
        if patience > config.recipe.patience:
            rank_zero_info(f"early stopping waits {patience} epochs without improvement, not --patience "
                           f"{config.recipe.patience}: at {steps_per_epoch} steps per epoch it waits at least "
                           f"{MIN_PATIENCE_STEPS} optimizer steps")
        callbacks.append(EarlyStopping(monitor=config.evaluation.monitor, mode=mode, patience=patience))
    if config.recipe.ema is not None:  # before precise BN, which then recomputes the averaged weights' statistics
        callbacks.append(EMA(config.recipe.ema))
    precise_bn = config.recipe.precise_bn
    if precise_bn == "on" or (precise_bn == "auto" and steps_per_epoch < PRECISE_BN_BELOW_STEPS):
        callbacks.append(PreciseBatchNorm(announce=f"{steps_per_epoch} steps per epoch are too few for their running "
                                          "averages to keep up (--precise-bn off turns this off)"
                                          if precise_bn == "auto" else None))
    if config.model.freeze_backbone:
        callbacks.append(BackboneFreeze(config.model.unfreeze_at_epoch, config.model.backbone_lr_ratio))
    if progress_mode(config.output.progress) == "lines":
        callbacks.append(EpochLines())
    return callbacks + load_callbacks(config.recipe.callbacks)


def progress_mode(progress: str) -> str:
    """``auto`` -> ``bar`` when standard output is a terminal, else ``lines`` (a batch job's log)."""
    if progress != "auto":
        return progress
    return "bar" if sys.stdout.isatty() else "lines"


HARDWARE_FLAGS = ("accelerator", "devices", "strategy", "num_nodes", "precision", "sync_batchnorm")


def hardware_options(config: TrainConfig) -> dict:
    hardware = config.hardware
    return {name: parse_devices(hardware.devices) if name == "devices" else getattr(hardware, name)
            for name in HARDWARE_FLAGS}


def check_hardware(config: TrainConfig) -> int:
    """Let Lightning check the hardware flags before a run folder is created.

    Lightning validates accelerator, devices, strategy and precision only when a Trainer is built; a bare
    Trainer costs a few milliseconds.

    Returns:
        The number of processes the run will train in (``devices x num_nodes`` for DDP).

    Raises:
        UserError: the flags Lightning rejects, with its message (which lists valid values).
    """
    quiet = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # its "GPU available" lines would be printed twice
    try:
        return L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, **hardware_options(config)).world_size
    except (MisconfigurationException, ValueError, TypeError, ImportError, RuntimeError) as err:
        given, defaults = config.hardware, HardwareSettings()
        names = [name for name in HARDWARE_FLAGS if getattr(given, name) != getattr(defaults, name)]
        flags = " ".join(f"--{name.replace('_', '-')} {getattr(given, name)}" for name in names or HARDWARE_FLAGS)
        raise UserError(f"{flags}: {' '.join(str(err).split())}") from None
    finally:
        quiet.setLevel(level)


def build_trainer(config: TrainConfig, run_dir: Path, steps_per_epoch: int, kept: KeptCallbacks,
                  resume_step: int | None = None, job_type: str | None = None) -> L.Trainer:
    """The Trainer (hardware flags checked beforehand by :func:`check_hardware`), with the ``kept`` callbacks
    among its callbacks.

    ``resume_step``, the global step of the checkpoint a run resumes from, makes the loggers continue
    their files instead of starting them over; ``job_type`` labels the W&B run (a k-fold run's fold).
    """
    return L.Trainer(
        default_root_dir=run_dir,
        max_epochs=config.recipe.max_epochs,
        callbacks=build_callbacks(config, run_dir, steps_per_epoch, kept),
        logger=build_loggers(config, run_dir, resume_step, job_type) or False,
        log_every_n_steps=max(1, min(50, steps_per_epoch)),
        fast_dev_run=config.hardware.fast_dev_run,
        accumulate_grad_batches=config.hardware.accumulate_grad_batches,
        gradient_clip_val=config.recipe.grad_clip,
        enable_progress_bar=progress_mode(config.output.progress) == "bar",
        **hardware_options(config),
    )
