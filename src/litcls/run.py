"""One training run: folder -> splits -> datamodule -> model -> Trainer.fit -> test of the best checkpoint."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import lightning as L
import pandas as pd

from litcls.callbacks.confusion_matrix import ConfusionMatrixWriter
from litcls.config import TrainConfig
from litcls.data.builtin import resolve_data
from litcls.data.datamodule import FolderDataModule
from litcls.data.duplicates import drop_duplicates, find_duplicates, warn_cross_split_duplicates
from litcls.data.groups import attach_groups, check_groups_disjoint
from litcls.data.scan import FolderScan, scan_folder
from litcls.data.splits import split_samples, write_splits
from litcls.data.transforms import Preprocessing
from litcls.models import get_model_spec
from litcls.models.module import ClassifierModule
from litcls.report.page import write_run_report
from litcls.rundir import claim_run_dir, is_main_process
from litcls.summary import print_summary
from litcls.tracking import finish_loggers, log_results
from litcls.trainer import build_trainer


def train(config: TrainConfig) -> Path:
    """Run training end to end and return the run folder.

    Everything that can be checked before training (data folder, classes, split sizes, model name) is
    checked first, so a mistake costs seconds, not an epoch.
    """
    get_model_spec(config.model)
    if config.folds:
        from litcls.crossval import cross_validate

        return cross_validate(config)
    scan, duplicates = load_scan(config)
    samples = split_samples(scan, config.val_size, config.test_size, config.seed)
    check_leakage(samples, duplicates)
    run_dir = claim_run_dir(config)
    fit_and_evaluate(config, scan, samples, run_dir)
    return run_dir


def load_scan(config: TrainConfig) -> tuple[FolderScan, list[list[str]]]:
    """Scan ``--data``, attach ``--groups``, and find byte-identical images (keeping one with ``--dedupe``).

    Returns:
        The scan and the sets of identical images still in it.
    """
    scan = scan_folder(resolve_data(config.data))
    if config.groups:
        scan = attach_groups(scan, config.groups)
    duplicates = find_duplicates(scan.root, scan.samples["path"])
    if config.dedupe and duplicates:
        return drop_duplicates(scan, duplicates), []
    return scan, duplicates


def check_leakage(samples: pd.DataFrame, duplicates: list[list[str]]) -> None:
    """Before training: no group in two splits (raises), no identical images in two splits (warns)."""
    check_groups_disjoint(samples)
    warn_cross_split_duplicates(samples, duplicates)


def fit_and_evaluate(config: TrainConfig, scan: FolderScan, samples: pd.DataFrame, run_dir: Path) -> dict:
    """Train on the rows of ``samples`` marked train, select on val, evaluate the best checkpoint on test.

    Writes ``config.yaml``, ``classes.json`` and ``splits.csv`` before training; ``results.json`` (with the
    per-class report), ``curves.png`` and ``report.html`` after; returns the results.
    """
    started = time.perf_counter()
    L.seed_everything(config.seed, workers=True, verbose=False)
    if is_main_process():
        config.save(run_dir / "config.yaml")
        (run_dir / "classes.json").write_text(json.dumps(scan.classes, ensure_ascii=False, indent=1),
                                              encoding="utf-8")
        write_splits(samples, scan.classes, run_dir / "splits.csv")

    preprocessing = Preprocessing(img_size=config.img_size)
    datamodule = FolderDataModule(scan.root, samples, scan.classes, preprocessing, augment=config.augment,
                                  batch_size=config.batch_size, num_workers=config.num_workers)
    module = ClassifierModule(
        model=config.model, class_names=datamodule.classes, preprocessing=preprocessing.to_dict(),
        optimizer=config.optimizer, lr=config.lr, weight_decay=config.weight_decay, scheduler=config.scheduler,
        label_smoothing=config.label_smoothing, max_epochs=config.epochs, monitor=config.monitor,
    )
    steps_per_epoch = max(1, len(datamodule.split("train")) // config.batch_size)
    trainer = build_trainer(config, run_dir, steps_per_epoch)
    failed = True
    try:
        trainer.fit(module, datamodule=datamodule)
        ckpt_path = None if config.fast_dev_run else "best"
        evaluate = trainer.test if len(datamodule.split("test")) else trainer.validate
        metrics = evaluate(module, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False)[0]
        checkpoint = trainer.checkpoint_callback
        best = checkpoint.best_model_path if checkpoint else ""
        results = {
            **{key: float(value) for key, value in sorted(metrics.items())},
            "monitor": config.monitor,
            "best_score": float(checkpoint.best_model_score) if best else None,
            "best_checkpoint": os.path.relpath(best, run_dir) if best else None,
            "epochs_trained": trainer.current_epoch,
            "processes": trainer.world_size,
            "effective_batch_size": config.batch_size * trainer.world_size * config.accumulate_grad_batches,
            "seconds": round(time.perf_counter() - started, 1),
        }
        confusion = next((c for c in trainer.callbacks if isinstance(c, ConfusionMatrixWriter)), None)
        if confusion and confusion.report:
            results["classification_report"] = confusion.report
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
