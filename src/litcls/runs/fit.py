"""One training run on a given sample table: pre-flight checks, datamodule, model, Trainer.fit, evaluation of
the best checkpoint, results. Single runs, k-fold folds, resumed runs and repeated seeds all end here."""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.utilities import rank_zero_info

from litcls.callbacks.graceful_stop import GracefulStop
from litcls.config import TrainConfig
from litcls.data.balance import class_weights, imbalance_hint
from litcls.data.batching import steps_per_epoch
from litcls.data.datamodule import FolderDataModule
from litcls.data.duplicates import warn_cross_split_duplicates
from litcls.data.groups import check_groups_disjoint
from litcls.data.samples import SampleTable
from litcls.data.sources import DataSpec, load_samples
from litcls.data.splits import split_samples, write_splits
from litcls.data.transforms import Preprocessing
from litcls.errors import UserError
from litcls.evaluation.metrics import curve_thresholds
from litcls.evaluation.slices import check_slice_columns, slice_columns
from litcls.files import json_number
from litcls.models import get_model_spec
from litcls.models.compile import compile_or_warn
from litcls.models.head_only import HeadOnlyModule
from litcls.models.module import ClassifierModule
from litcls.models.pretrained import load_starting_weights, run_preprocessing, starting_weights
from litcls.processes import is_main_process
from litcls.recipe.losses import loss_parameters
from litcls.report.page import write_run_report
from litcls.report.summary import print_summary
from litcls.runs.advice import settle_batch_size, warn_small_images
from litcls.runs.before_launch import find_rate_once
from litcls.runs.cached_features import cached_features
from litcls.runs.evaluate import check_evaluation_flags, evaluate_run, evaluated_split
from litcls.runs.new_folder import claim_run_dir
from litcls.runs.trainer import build_trainer, check_hardware
from litcls.tracking.loggers import finish_loggers, log_results


def train_one(config: TrainConfig) -> Path:
    """Load and split the data, check it, claim the run folder and train; return the run folder."""
    scan, duplicates = load_data(config)
    samples = split_samples(scan, config.val_size, config.test_size, config.seed, config.resplit_val)
    check_leakage(samples, duplicates)
    warn_imbalance(config, samples, scan.classes)
    run_dir = claim_run_dir(config)
    try:
        fit_and_evaluate(config, scan, samples, run_dir)
    except UserError:
        if is_main_process() and not any(run_dir.iterdir()):  # refused before anything was written
            run_dir.rmdir()
        raise
    return run_dir


def load_data(config: TrainConfig) -> tuple[SampleTable, list[list[str]]]:
    """Read ``--data`` through the data-source seam (:func:`litcls.data.sources.load_samples`) and check the
    evaluation flags against its classes and columns.

    Returns:
        The sample table and the sets of byte-identical images still in it.
    """
    table, duplicates = load_samples(DataSpec.of(config))
    check_evaluation_flags(config, table.classes)
    check_slice_columns(slice_columns(config), table)
    return table, duplicates


def check_input_size(module: ClassifierModule, config: TrainConfig, img_size: int) -> None:
    """One forward pass on a blank image, so a model too deep for ``--img-size`` fails here with advice,
    not with a shape error in the middle of Lightning's sanity check."""
    spec = get_model_spec(config.model)
    was_training = module.training
    module.eval()  # batch norm refuses a batch of one image in training mode
    try:
        with torch.no_grad():
            module(torch.zeros(1, 3, img_size, img_size))
    except RuntimeError as err:
        if img_size >= spec.input_size:
            raise
        raise UserError(f"--img-size {img_size} is too small for --model {config.model} "
                        f"({' '.join(str(err).split())}); use --img-size {spec.input_size} (what it is designed "
                        "for) or a model for small images (--list-models)") from None
    finally:
        module.train(was_training)


def check_leakage(samples: pd.DataFrame, duplicates: list[list[str]]) -> None:
    """Before training: no group in two splits (raises), no identical images in two splits (warns)."""
    check_groups_disjoint(samples)
    warn_cross_split_duplicates(samples, duplicates)


def warn_imbalance(config: TrainConfig, samples: pd.DataFrame, classes: list[str]) -> None:
    """Suggest --balance when the training split is heavily imbalanced and nothing counters it."""
    if config.balance == "none" and is_main_process():
        hint = imbalance_hint(samples.loc[samples["split"] == "train", "label"].tolist(), classes)
        if hint:
            warnings.warn(hint, stacklevel=3)


def fit_and_evaluate(config: TrainConfig, scan: SampleTable, samples: pd.DataFrame, run_dir: Path,
                     ckpt_path: Path | None = None, resume_step: int | None = None,
                     job_type: str | None = None) -> dict:
    """Train on the rows of ``samples`` marked train, select on val, evaluate the best checkpoint on test.

    Writes ``config.yaml``, ``classes.json``, ``splits.csv`` (and ``skipped.csv`` when the scan left files
    out) before training; the evaluation files (:func:`litcls.runs.evaluate.evaluate_run`), ``results.json``,
    ``curves.png`` and ``report.html`` after; returns the results. With ``ckpt_path`` (and its global step,
    ``resume_step``) training continues from that checkpoint in the same run folder, whose ``classes.json`` and
    ``splits.csv`` are left as they are. ``job_type`` labels the W&B run (``fold_2`` in a k-fold run).

    Raises:
        TrainingInterrupted: SIGTERM or Ctrl+C stopped training (after saving a checkpoint).
    """
    started = time.perf_counter()
    L.seed_everything(config.seed, workers=True, verbose=False)
    spec = get_model_spec(config.model)
    if ckpt_path is None:
        start = starting_weights(config.model, config.pretrained, config.weights)
        preprocessing = run_preprocessing(config.img_size, spec, start)
    else:  # resuming: the checkpoint holds the weights and the preprocessing the run started with
        start = None
        hparams = torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True)["hyper_parameters"]
        preprocessing = Preprocessing.from_dict(hparams["preprocessing"])
    train_images = int((samples["split"] == "train").sum())
    processes = check_hardware(config)
    if ckpt_path is None:
        batch_size = settle_batch_size(config.batch_size, train_images, processes)
        warn_small_images(config.model, preprocessing.img_size, spec.input_size)
    else:  # the saved config has the batch size the run started with (runs before it was recorded: 64)
        batch_size = config.batch_size or 64
    # config.yaml records the sizes used, so that --config repeats the run even where the defaults change
    config = dataclasses.replace(config, batch_size=batch_size, img_size=preprocessing.img_size)
    datamodule = FolderDataModule(scan.root, samples, scan.classes, preprocessing, augment=config.augment,
                                  batch_size=config.batch_size, num_workers=config.num_workers,
                                  balance=config.balance, seed=config.seed)
    train_labels = datamodule.split("train")["label"].tolist()
    module = (HeadOnlyModule if config.cache_features else ClassifierModule)(
        model=config.model, class_names=datamodule.classes, preprocessing=preprocessing.to_dict(),
        optimizer=config.optimizer, lr=config.lr, weight_decay=config.weight_decay, scheduler=config.scheduler,
        label_smoothing=config.label_smoothing, max_epochs=config.epochs, monitor=config.monitor,
        class_weights=class_weights(train_labels, len(scan.classes)) if config.balance == "loss" else None,
        curve_thresholds=curve_thresholds(max(len(datamodule.split(name)) for name in ("val", "test")),
                                          len(scan.classes)),
        head=config.head, loss=config.loss, mixup=config.mixup or 0.0, cutmix=config.cutmix or 0.0,
        warmup_epochs=config.warmup_epochs, channels_last=config.channels_last,
        **{parameter.name: getattr(config, parameter.name) for parameter in loss_parameters()},
    )
    if config.compile:
        compile_or_warn(module.model, preprocessing.img_size)
    check_input_size(module, config, preprocessing.img_size)
    if start:
        rank_zero_info(load_starting_weights(module.model, start, spec.head_name(module.model), scan.classes))
    fit_data, extras = datamodule, {}
    if config.cache_features:  # the head trains on features; the final evaluation below runs on the images
        fit_data, extras["cached_features"] = cached_features(config, module, scan.root, samples, scan.classes,
                                                              batch_size)
    if config.lr_find and ckpt_path is None:  # a resumed run keeps the rate it found (saved in config.yaml)
        lr, suggested = find_rate_once(config, module, fit_data, run_dir)  # once, also under DDP
        module.hparams.lr = lr
        config = dataclasses.replace(config, lr=lr)
        extras["lr_find"] = {"suggested_lr": suggested, "lr": lr}
    if is_main_process():
        config.save(run_dir / "config.yaml")
        if ckpt_path is None:
            (run_dir / "classes.json").write_text(json.dumps(scan.classes, ensure_ascii=False, indent=1),
                                                  encoding="utf-8")
            write_splits(samples, scan.classes, run_dir / "splits.csv")
            if scan.skipped:
                pd.DataFrame(list(scan.skipped), columns=["path", "reason"]).to_csv(
                    run_dir / "skipped.csv", index=False, encoding="utf-8")

    trainer = build_trainer(config, run_dir, steps_per_epoch(train_images, batch_size, processes), resume_step,
                            job_type)
    failed = True
    try:
        with warnings.catch_warnings():
            if ckpt_path:  # expected when resuming, alarming otherwise
                warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
            trainer.fit(module, datamodule=fit_data, ckpt_path=ckpt_path)
        for callback in trainer.callbacks:
            if isinstance(callback, GracefulStop):
                callback.raise_if_stopped(trainer)

        # the best checkpoint on val (where calibration and thresholds are fitted), then on test
        best_or_current = None if config.fast_dev_run else "best"
        # (with --cache-features too, the final evaluation runs the whole model on the images)
        trainer.validate(module, datamodule=datamodule, ckpt_path=best_or_current, verbose=False)
        # the module keeps these val metrics out of the loggers' per-epoch curves: read them from the trainer
        metrics = {key: value for key, value in trainer.callback_metrics.items() if key.startswith("val/")}
        if evaluated_split(datamodule) == "test":
            metrics |= trainer.test(module, datamodule=datamodule, ckpt_path=best_or_current, verbose=False)[0]
        evaluation = evaluate_run(config, trainer, module, datamodule, run_dir)
        metrics |= {key: value for key, value in evaluation.items() if "/" in key}
        results = _results(config, trainer, metrics, run_dir, time.perf_counter() - started)
        results |= {key: value for key, value in evaluation.items() if "/" not in key} | extras
        if trainer.is_global_zero:
            (run_dir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False),
                                                  encoding="utf-8")
            log_results(trainer.loggers, results)
            write_run_report(run_dir)
            print_summary(run_dir, results)
        failed = False
        return results
    finally:
        finish_loggers(trainer.loggers, failed)


def _results(config: TrainConfig, trainer: L.Trainer, metrics: dict, run_dir: Path, seconds: float) -> dict:
    checkpoint = trainer.checkpoint_callback
    best = checkpoint.best_model_path if checkpoint else ""
    results = {
        **{key: json_number(value) for key, value in sorted(metrics.items())},
        "monitor": config.monitor,
        "best_score": float(checkpoint.best_model_score) if best else None,
        "best_checkpoint": os.path.relpath(best, run_dir) if best else None,
        "epochs_trained": trainer.current_epoch,
        "preprocessing": trainer.lightning_module.preprocessing.to_dict(),
        "processes": trainer.world_size,
        "effective_batch_size": config.batch_size * trainer.world_size * config.accumulate_grad_batches,
        "seconds": round(seconds, 1),
    }
    return results


