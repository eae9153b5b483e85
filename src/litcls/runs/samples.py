"""The sample table a run trains on: read through the data-source seam, then checked before anything trains (the
evaluation flags against its classes, groups and identical images across splits, class imbalance)."""

from __future__ import annotations

import warnings

import pandas as pd

from litcls.config import TrainConfig
from litcls.data.balance import imbalance_hint
from litcls.data.duplicates import warn_cross_split_duplicates
from litcls.data.groups import check_groups_disjoint
from litcls.data.samples import SampleTable
from litcls.data.sources import DataSpec, load_samples
from litcls.errors import UserError
from litcls.evaluation.slices import check_slice_columns, slice_columns
from litcls.processes import is_main_process
from litcls.runs.evaluate import check_evaluation_flags
from litcls.tasks import Task, task_for


def load_data(config: TrainConfig) -> tuple[TrainConfig, SampleTable, list[list[str]]]:
    """Read ``--data`` through the data-source seam (:func:`litcls.data.sources.load_samples`), settle what
    depends on its task, and check the evaluation flags against its classes and columns.

    Returns:
        The configuration the run trains with, the sample table and the sets of byte-identical images still in it.
    """
    table, duplicates = load_samples(DataSpec.of(config.data))
    task = task_for(table.task)
    config = settle_monitor(config, task)
    if task.multi_hot:
        check_multi_label_flags(config, table)
    check_evaluation_flags(config, table.classes, task.name)
    check_slice_columns(slice_columns(config.data), table)
    return config, table, duplicates


def settle_monitor(config: TrainConfig, task: Task) -> TrainConfig:
    """``--monitor`` left out: the task's default (``val/loss``; ``val/auroc`` for multi-label), recorded in the
    configuration (and so in ``config.yaml``)."""
    if config.evaluation.monitor is not None:
        return config
    return config.replace(monitor=task.default_monitor)


def check_multi_label_flags(config: TrainConfig, table: SampleTable) -> None:
    """Refuse the single-label flags a multi-label table (a manifest read with --label-sep or --label-cols, or
    ``--data digits-grid``) cannot honour."""
    if config.evaluation.positive_class:
        raise UserError(f"--positive-class: {config.data.source} is multi-label ({len(table.classes)} labels), "
                        "where every label is a positive class with its own threshold; leave --positive-class out")
    if config.data.balance == "sampler":
        raise UserError("--balance sampler draws images by their one class; a multi-label image has several: use "
                        "--balance loss (a positive weight per label) or --balance none")


def check_leakage(samples: pd.DataFrame, duplicates: list[list[str]]) -> None:
    """Before training: no group in two splits (raises), no identical images in two splits (warns)."""
    check_groups_disjoint(samples)
    warn_cross_split_duplicates(samples, duplicates)


def warn_imbalance(config: TrainConfig, samples: pd.DataFrame, classes: list[str]) -> None:
    """Suggest --balance when the training split is heavily imbalanced and nothing counters it (single-label; a
    multi-label table's prevalence per label is reported by its split instead)."""
    if (samples["label"] < 0).any():
        return
    if config.data.balance == "none" and is_main_process():
        hint = imbalance_hint(samples.loc[samples["split"] == "train", "label"].tolist(), classes)
        if hint:
            warnings.warn(hint, stacklevel=3)
