"""One training run: build its objects (:mod:`litcls.runs.build`), fit, evaluate the best checkpoint
(:mod:`litcls.runs.evaluate`). Single runs, k-fold folds, resumed runs and repeated seeds all end here."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pandas as pd

from litcls.config import TrainConfig
from litcls.data.samples import SampleTable
from litcls.data.splits import split_samples
from litcls.errors import UserError
from litcls.processes import is_main_process
from litcls.runs.build import ResumeFrom, Run, build_run
from litcls.runs.evaluate import evaluate_best
from litcls.runs.new_folder import claim_run_dir
from litcls.runs.samples import check_leakage, load_data, settle_monitor, warn_imbalance
from litcls.tasks import task_for
from litcls.tracking.loggers import finish_loggers


def train_one(config: TrainConfig) -> Path:
    """Load and split the data, check it, claim the run folder and train; return the run folder."""
    config, scan, duplicates = load_data(config)
    data = config.data
    samples = split_samples(scan, data.val_size, data.test_size, data.seed, data.resplit_val)
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


def fit_and_evaluate(config: TrainConfig, scan: SampleTable, samples: pd.DataFrame, run_dir: Path,
                     resume: ResumeFrom | None = None, job_type: str | None = None) -> dict:
    """Train on the rows of ``samples`` marked train, select on val, evaluate the best checkpoint on test.

    Writes the run's inputs before training (:func:`litcls.runs.build.write_inputs`), its evaluation files,
    ``results.json`` and ``report.html`` after (:func:`litcls.runs.evaluate.evaluate_best`); returns the results.
    With ``resume`` training continues from that checkpoint in the same run folder. ``job_type`` labels the W&B
    run (``fold_2`` in a k-fold run).

    Raises:
        TrainingInterrupted: SIGTERM or Ctrl+C stopped training (after saving a checkpoint).
    """
    started = time.perf_counter()
    config = settle_monitor(config, task_for(scan.task))  # a caller that did not read the data through load_data
    run = build_run(config, scan, samples, run_dir, resume, job_type)
    failed = True
    try:
        fit(run)
        results = evaluate_best(run, started)
        failed = False
        return results
    finally:
        finish_loggers(run.trainer.loggers, failed)


def fit(run: Run) -> None:
    """``trainer.fit``, from the resumed checkpoint if any; raises if SIGTERM or Ctrl+C stopped it."""
    with warnings.catch_warnings():
        if run.resume:  # expected when resuming, alarming otherwise
            warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
        run.trainer.fit(run.module, datamodule=run.fit_data, ckpt_path=run.resume and run.resume.checkpoint)
    run.callbacks.stop.raise_if_stopped(run.trainer)
