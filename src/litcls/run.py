"""One training run: folder -> splits -> datamodule -> model -> Trainer.fit -> test of the best checkpoint."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path

import lightning as L
import pandas as pd
from lightning.pytorch.utilities import rank_zero_info

from litcls.config import TrainConfig
from litcls.data.builtin import resolve_data
from litcls.data.datamodule import FolderDataModule
from litcls.data.scan import FolderScan, scan_folder
from litcls.data.splits import split_samples, write_splits
from litcls.models import get_model_spec
from litcls.models.module import ClassifierModule
from litcls.models.pretrained import load_starting_weights, run_preprocessing, starting_weights
from litcls.summary import print_summary
from litcls.trainer import build_trainer


def create_run_dir(config: TrainConfig) -> Path:
    """Claim a new folder under ``out_dir``; a taken name gets a numeric suffix instead of being overwritten."""
    base = config.name or f"{Path(config.data).name}-{config.model}-{datetime.now():%Y%m%d-%H%M%S}"
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        run_dir = out_dir / (base if attempt == 0 else f"{base}-{attempt}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a run folder named {base} in {out_dir}")


def train(config: TrainConfig) -> Path:
    """Run training end to end and return the run folder.

    Everything that can be checked before training (data folder, classes, split sizes, model name) is
    checked first, so a mistake costs seconds, not an epoch.
    """
    get_model_spec(config.model)
    starting_weights(config.model, config.pretrained, config.weights)  # a missing download stops here
    scan = scan_folder(resolve_data(config.data))
    samples = split_samples(scan, config.val_size, config.test_size, config.seed)
    run_dir = create_run_dir(config)
    fit_and_evaluate(config, scan, samples, run_dir)
    return run_dir


def fit_and_evaluate(config: TrainConfig, scan: FolderScan, samples: pd.DataFrame, run_dir: Path) -> dict:
    """Train on the rows of ``samples`` marked train, select on val, evaluate the best checkpoint on test.

    Writes ``config.yaml``, ``classes.json`` and ``splits.csv`` before training and ``results.json`` after;
    returns the results.
    """
    started = time.perf_counter()
    L.seed_everything(config.seed, workers=True, verbose=False)
    config.save(run_dir / "config.yaml")
    (run_dir / "classes.json").write_text(json.dumps(scan.classes, ensure_ascii=False, indent=1), encoding="utf-8")
    write_splits(samples, scan.classes, run_dir / "splits.csv")

    spec = get_model_spec(config.model)
    start = starting_weights(config.model, config.pretrained, config.weights)
    preprocessing = run_preprocessing(config.img_size, spec, start)
    datamodule = FolderDataModule(scan.root, samples, scan.classes, preprocessing, augment=config.augment,
                                  batch_size=config.batch_size, num_workers=config.num_workers)
    module = ClassifierModule(
        model=config.model, class_names=datamodule.classes, preprocessing=preprocessing.to_dict(),
        optimizer=config.optimizer, lr=config.lr, weight_decay=config.weight_decay, scheduler=config.scheduler,
        label_smoothing=config.label_smoothing, max_epochs=config.epochs, monitor=config.monitor,
    )
    if start:
        rank_zero_info(load_starting_weights(module.model, start, spec.head_name(module.model), scan.classes))
    steps_per_epoch = max(1, len(datamodule.split("train")) // config.batch_size)
    trainer = build_trainer(config, run_dir, steps_per_epoch)
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
        "seconds": round(time.perf_counter() - started, 1),
    }
    if trainer.is_global_zero:
        (run_dir / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
        print_summary(run_dir, results)
    return results
