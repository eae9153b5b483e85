"""Build one run's objects from the configuration and the sample table: the datamodule, the module, the trainer
with its callbacks and loggers, and the run folder's input files (``config.yaml``, ``classes.json``,
``splits.csv``). A resumed run enters as one :class:`ResumeFrom`; a fresh run as None."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.utilities import rank_zero_info

from litcls.config import TrainConfig
from litcls.data.balance import class_weights, positive_weights
from litcls.data.batching import steps_per_epoch
from litcls.data.datamodule import FolderDataModule
from litcls.data.image_cache import prepare_image_cache
from litcls.data.image_size import format_image_size
from litcls.data.samples import SampleTable
from litcls.data.splits import write_label_prevalence, write_splits
from litcls.data.stream.datamodule import StreamDataModule
from litcls.data.transforms import Preprocessing, eval_transform
from litcls.errors import UserError
from litcls.evaluation.metrics import curve_thresholds
from litcls.models import get_model_spec
from litcls.models.compile import compile_or_warn
from litcls.models.head_only import HeadOnlyModule
from litcls.models.module import ClassifierModule, settings_arguments
from litcls.models.pretrained import StartingWeights, load_starting_weights, run_preprocessing, starting_weights
from litcls.processes import is_main_process
from litcls.recipe.losses import loss_parameters
from litcls.runs.advice import settle_batch_size, warn_small_images
from litcls.runs.before_launch import find_rate_once
from litcls.runs.cached_features import cached_features
from litcls.runs.trainer import KeptCallbacks, build_trainer, check_hardware, kept_callbacks
from litcls.tasks import task_for


@dataclass(frozen=True)
class ResumeFrom:
    """Where a resumed run continues: the checkpoint, its global step (the loggers keep what was logged before
    it), and the preprocessing and batch size the run started with."""

    checkpoint: Path
    global_step: int
    preprocessing: Preprocessing
    batch_size: int

    @classmethod
    def read(cls, checkpoint: Path, global_step: int, config: TrainConfig) -> ResumeFrom:
        """The checkpoint holds the preprocessing; the saved config the batch size (runs before it was
        recorded: 64)."""
        hparams = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)["hyper_parameters"]
        return cls(checkpoint, global_step, Preprocessing.from_dict(hparams["preprocessing"]),
                   config.data.batch_size or 64)


@dataclass
class Run:
    """One run's objects, built and ready to fit.

    Attributes:
        config: the settings with the sizes actually used (batch size, image size, a learning rate found).
        run_dir: the run folder.
        datamodule: the images; the final evaluation runs on them.
        fit_data: what training reads: the datamodule, or cached features (``--cache-features``).
        module: the LightningModule.
        trainer: the Trainer with its callbacks and loggers.
        callbacks: the callbacks read after fitting (evaluation logits, Grad-CAM gallery, stop request).
        resume: where a resumed run continues; None for a fresh run.
        extras: what building adds to ``results.json`` (``cached_features``, ``lr_find``).
    """

    config: TrainConfig
    run_dir: Path
    datamodule: FolderDataModule
    fit_data: L.LightningDataModule
    module: ClassifierModule
    trainer: L.Trainer
    callbacks: KeptCallbacks
    resume: ResumeFrom | None
    extras: dict[str, Any]


def build_run(config: TrainConfig, scan: SampleTable, samples: pd.DataFrame, run_dir: Path,
              resume: ResumeFrom | None = None, job_type: str | None = None) -> Run:
    """Build the run's objects and write its input files; ``job_type`` labels the W&B run (``fold_2``)."""
    L.seed_everything(config.data.seed, workers=True, verbose=False)
    start = None if resume else starting_weights(config.model.name, config.model.pretrained, config.model.weights)
    processes = check_hardware(config)
    config, preprocessing = settle_sizes(config, samples, processes, start, resume)
    datamodule = build_datamodule(config, scan, samples, preprocessing)
    module = build_module(config, datamodule, preprocessing, start)
    fit_data, extras = datamodule, {"starting_weights": start.record()} if start else {}
    if config.model.cache_features:  # the head trains on features; the final evaluation runs on the images
        fit_data, extras["cached_features"] = cached_features(config, module, scan.root, samples, scan.classes,
                                                              config.data.batch_size)
    if config.model.lr_find and resume is None:  # a resumed run keeps the rate it found (saved in config.yaml)
        config, extras["lr_find"] = find_learning_rate(config, module, fit_data, run_dir)
    if is_main_process():
        write_inputs(config, scan, samples, run_dir, fresh=resume is None)
    callbacks = kept_callbacks(config, run_dir)
    steps = steps_per_epoch(int((samples["split"] == "train").sum()), config.data.batch_size, processes)
    trainer = build_trainer(config, run_dir, steps, callbacks, resume.global_step if resume else None, job_type)
    return Run(config, run_dir, datamodule, fit_data, module, trainer, callbacks, resume, extras)


def settle_sizes(config: TrainConfig, samples: pd.DataFrame, processes: int, start: StartingWeights | None,
                 resume: ResumeFrom | None) -> tuple[TrainConfig, Preprocessing]:
    """The preprocessing and batch size the run trains with, recorded in the config (so that ``config.yaml``
    repeats the run even where the defaults change): a resumed run's own, else chosen for the weights and data."""
    if resume:
        preprocessing, batch_size = resume.preprocessing, resume.batch_size
    else:
        spec = get_model_spec(config.model.name)
        preprocessing = run_preprocessing(config.data.img_size, spec, start, config.model.mean,
                                          config.model.std).with_input(config.data.in_chans, config.data.resize)
        train_images = int((samples["split"] == "train").sum())
        batch_size = settle_batch_size(config.data.batch_size, train_images, processes)
        warn_small_images(config.model.name, preprocessing.img_size, spec.input_size)
    return config.replace(batch_size=batch_size, img_size=format_image_size(preprocessing.img_size),
                          mean=list(preprocessing.mean), std=list(preprocessing.std)), preprocessing


def build_datamodule(config: TrainConfig, scan: SampleTable, samples: pd.DataFrame,
                     preprocessing: Preprocessing) -> FolderDataModule:
    data = config.data
    options = {"augment": data.augment, "batch_size": data.batch_size, "num_workers": data.num_workers,
               "balance": data.balance, "seed": data.seed, "task": scan.task}
    if scan.stream:
        return StreamDataModule(scan.stream, samples, scan.classes, preprocessing, **options)
    # one batch per split does not repay decoding every image first
    mode = "none" if data.cache_images == "auto" and config.hardware.fast_dev_run else data.cache_images
    image_cache = prepare_image_cache(mode, scan.root, samples["path"].tolist(), eval_transform(preprocessing),
                                      preprocessing.img_size, data.num_workers, preprocessing.in_chans)
    return FolderDataModule(scan.root, samples, scan.classes, preprocessing, image_cache=image_cache, **options)


def build_module(config: TrainConfig, datamodule: FolderDataModule, preprocessing: Preprocessing,
                 start: StartingWeights | None) -> ClassifierModule:
    """The module (head only with ``--cache-features``), compiled if asked, checked on one blank image, and
    loaded with its starting weights."""
    classes = datamodule.classes
    kind = HeadOnlyModule if config.model.cache_features else ClassifierModule
    module = kind(model=config.model.name, class_names=classes, preprocessing=preprocessing.to_dict(),
                  task=datamodule.task,
                  class_weights=loss_weights(datamodule) if config.data.balance == "loss" else None,
                  curve_thresholds=curve_thresholds(max(len(datamodule.split(name)) for name in ("val", "test")),
                                                    len(classes)),
                  starting_weights=start.record() if start else None,
                  **settings_arguments(kind, config.recipe, config.model, config.evaluation),
                  **{parameter.name: getattr(config.recipe, parameter.name) for parameter in loss_parameters()})
    if config.recipe.compile:
        compile_or_warn(module.model, preprocessing.input_shape)
    check_input_size(module, config, preprocessing)
    if start:
        spec = get_model_spec(config.model.name)
        rank_zero_info(load_starting_weights(module.model, start, spec.head_name(module.model), classes,
                                             preprocessing.img_size, module.in_chans))
    return module


def loss_weights(datamodule: FolderDataModule) -> list[float]:
    """``--balance loss``: a weight per class (single-label), or each label's positive weight (multi-label)."""
    train, task = datamodule.split("train"), task_for(datamodule.task)
    if task.multi_hot:
        return positive_weights(task.truth(train, datamodule.classes))
    return class_weights(train["label"].tolist(), len(datamodule.classes))


def check_input_size(module: ClassifierModule, config: TrainConfig, preprocessing: Preprocessing) -> None:
    """One forward pass on a blank image, so a model too deep for ``--img-size`` fails here with advice,
    not with a shape error in the middle of Lightning's sanity check."""
    spec = get_model_spec(config.model.name)
    was_training = module.training
    module.eval()  # batch norm refuses a batch of one image in training mode
    try:
        with torch.no_grad():
            module(torch.zeros(1, *preprocessing.input_shape))
    except RuntimeError as err:
        if min(preprocessing.img_size) >= spec.input_size:
            raise
        size = format_image_size(preprocessing.img_size)
        raise UserError(f"--img-size {size} is too small for --model {config.model.name} "
                        f"({' '.join(str(err).split())}); use --img-size {spec.input_size} (what it is designed "
                        "for) or a model for small images (--list-models)") from None
    finally:
        module.train(was_training)


def find_learning_rate(config: TrainConfig, module: ClassifierModule, fit_data: L.LightningDataModule,
                       run_dir: Path) -> tuple[TrainConfig, dict[str, float | None]]:
    """``--lr-find``: the module and the config take the rate found (once, also under DDP); returns the config
    and what ``results.json`` says about it."""
    lr, suggested = find_rate_once(config, module, fit_data, run_dir)
    module.hparams.lr = lr
    return config.replace(lr=lr), {"suggested_lr": suggested, "lr": lr}


def write_inputs(config: TrainConfig, scan: SampleTable, samples: pd.DataFrame, run_dir: Path, fresh: bool) -> None:
    """``config.yaml``; for a fresh run also ``classes.json``, ``splits.csv``, ``skipped.csv`` (files the scan
    left out) and, multi-label, ``label_prevalence.csv``. A resumed run keeps its class list and split as they are."""
    config.save(run_dir / "config.yaml")
    if not fresh:
        return
    (run_dir / "classes.json").write_text(json.dumps(scan.classes, ensure_ascii=False, indent=1), encoding="utf-8")
    write_splits(samples, scan.classes, run_dir / "splits.csv")
    if scan.multi_label:
        write_label_prevalence(samples, scan.classes, run_dir / "label_prevalence.csv")
    if scan.skipped:
        pd.DataFrame(list(scan.skipped), columns=["path", "reason"]).to_csv(run_dir / "skipped.csv", index=False,
                                                                              encoding="utf-8")
