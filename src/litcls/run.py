"""One training run: folder -> splits -> datamodule -> model -> Trainer.fit -> test of the best checkpoint."""

from __future__ import annotations

import json
import os
import time
import warnings
from datetime import datetime
from pathlib import Path

import lightning as L
import pandas as pd
import torch

from litcls.callbacks.graceful_stop import GracefulStop
from litcls.config import TrainConfig
from litcls.data.balance import class_weights, imbalance_hint
from litcls.data.builtin import resolve_data
from litcls.data.datamodule import FolderDataModule
from litcls.data.scan import FolderScan, scan_folder
from litcls.data.splits import split_samples, write_splits
from litcls.data.transforms import Preprocessing
from litcls.errors import UserError
from litcls.models import get_model_spec
from litcls.models.module import ClassifierModule
from litcls.summary import print_summary
from litcls.trainer import build_trainer, check_hardware


def create_run_dir(config: TrainConfig) -> Path:
    """Claim a new folder under ``out_dir``; a taken name gets a numeric suffix instead of being overwritten."""
    base = config.name or f"{Path(config.data).name}-{config.model}-{datetime.now():%Y%m%d-%H%M%S}"
    if Path(base).name != base or base in (".", ".."):
        raise UserError(f"--name: {base!r} must be a folder name, without '/'; use --out-dir to choose where runs go")
    out_dir = Path(config.out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1000):
            run_dir = out_dir / (base if attempt == 0 else f"{base}-{attempt}")
            try:
                run_dir.mkdir()
                return run_dir
            except FileExistsError:
                continue
    except OSError as err:  # read-only disk, no permission, a file where the folder should be
        raise UserError(f"--out-dir: cannot create a run folder in {out_dir} ({err.strerror or err}); "
                        "choose a writable folder with --out-dir") from None
    raise UserError(f"--name: {base} and its 999 numbered variants are taken in {out_dir}; choose another --name")


def train(config: TrainConfig) -> Path:
    """Run training end to end and return the run folder.

    Everything that can be checked before training (data folder, classes, split sizes, model name) is
    checked first, so a mistake costs seconds, not an epoch.
    """
    get_model_spec(config.model)
    check_hardware(config)
    scan = scan_folder(resolve_data(config.data))
    samples = split_samples(scan, config.val_size, config.test_size, config.seed)
    if config.balance == "none":
        hint = imbalance_hint(samples.loc[samples["split"] == "train", "label"].tolist(), scan.classes)
        if hint:
            warnings.warn(hint, stacklevel=2)
    run_dir = create_run_dir(config)
    try:
        fit_and_evaluate(config, scan, samples, run_dir)
    except UserError:
        if not any(run_dir.iterdir()):  # refused before anything was written: leave no empty run folder
            run_dir.rmdir()
        raise
    return run_dir


def check_input_size(module: ClassifierModule, config: TrainConfig) -> None:
    """One forward pass on a blank image, so a model too deep for ``--img-size`` fails here with advice,
    not with a shape error in the middle of Lightning's sanity check."""
    spec = get_model_spec(config.model)
    was_training = module.training
    module.eval()  # batch norm refuses a batch of one image in training mode
    try:
        with torch.no_grad():
            module(torch.zeros(1, 3, config.img_size, config.img_size))
    except RuntimeError as err:
        if config.img_size >= spec.input_size:
            raise
        raise UserError(f"--img-size {config.img_size} is too small for --model {config.model} "
                        f"({' '.join(str(err).split())}); use --img-size {spec.input_size} (what it is designed "
                        "for) or a model for small images (--list-models)") from None
    finally:
        module.train(was_training)


def fit_and_evaluate(config: TrainConfig, scan: FolderScan, samples: pd.DataFrame, run_dir: Path,
                     ckpt_path: Path | None = None, resume_step: int | None = None) -> dict:
    """Train on the rows of ``samples`` marked train, select on val, evaluate the best checkpoint on test.

    Writes ``config.yaml``, ``classes.json``, ``splits.csv`` (and ``skipped.csv`` when the scan left files
    out) before training and ``results.json`` after; returns the results. With ``ckpt_path`` (and its global
    step, ``resume_step``) training continues from that checkpoint in the same run folder, whose
    ``classes.json`` and ``splits.csv`` are left as they are.

    Raises:
        TrainingInterrupted: SIGTERM or Ctrl+C stopped training (after saving a checkpoint).
    """
    started = time.perf_counter()
    L.seed_everything(config.seed, workers=True, verbose=False)
    preprocessing = Preprocessing(img_size=config.img_size)
    datamodule = FolderDataModule(scan.root, samples, scan.classes, preprocessing, augment=config.augment,
                                  batch_size=config.batch_size, num_workers=config.num_workers,
                                  balance=config.balance, seed=config.seed)
    train_labels = datamodule.split("train")["label"].tolist()
    module = ClassifierModule(
        model=config.model, class_names=datamodule.classes, preprocessing=preprocessing.to_dict(),
        optimizer=config.optimizer, lr=config.lr, weight_decay=config.weight_decay, scheduler=config.scheduler,
        label_smoothing=config.label_smoothing, max_epochs=config.epochs, monitor=config.monitor,
        class_weights=class_weights(train_labels, len(scan.classes)) if config.balance == "loss" else None,
    )
    check_input_size(module, config)
    config.save(run_dir / "config.yaml")
    if ckpt_path is None:
        (run_dir / "classes.json").write_text(json.dumps(scan.classes, ensure_ascii=False, indent=1),
                                              encoding="utf-8")
        write_splits(samples, scan.classes, run_dir / "splits.csv")
        if scan.skipped:
            pd.DataFrame(list(scan.skipped), columns=["path", "reason"]).to_csv(run_dir / "skipped.csv", index=False,
                                                                                encoding="utf-8")
    steps_per_epoch = max(1, len(train_labels) // config.batch_size)
    trainer = build_trainer(config, run_dir, steps_per_epoch, resume_step)
    with warnings.catch_warnings():
        if ckpt_path:  # expected when resuming, alarming otherwise
            warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    for callback in trainer.callbacks:
        if isinstance(callback, GracefulStop):
            callback.raise_if_stopped(trainer)

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
        "seconds": round(time.perf_counter() - started, 1),
    }
    if trainer.is_global_zero:
        (run_dir / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
        print_summary(run_dir, results)
    return results
