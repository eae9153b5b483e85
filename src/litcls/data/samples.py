"""The sample table: what a data source hands to splitting, the datamodule and the run folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from litcls.tasks import MULTI_LABEL, SINGLE_LABEL
from litcls.tasks.multi_label import TARGET_PREFIX

__all__ = ["MULTI_LABEL", "SINGLE_LABEL", "SampleTable", "has_targets", "target_columns", "targets_of"]


def target_columns(classes: list[str]) -> list[str]:
    """The float column of each label in a multi-label sample table: 1.0 positive, 0.0 negative, NaN ignored."""
    return [f"{TARGET_PREFIX}{name}" for name in classes]


def has_targets(samples: pd.DataFrame, classes: list[str]) -> bool:
    """Whether ``samples`` is a multi-label table's (a target column per label)."""
    return bool(classes) and set(target_columns(classes)) <= set(samples.columns)


def targets_of(samples: pd.DataFrame, classes: list[str]) -> np.ndarray:
    """The (N, L) float32 targets of a multi-label table's rows, NaN where a cell is ignored."""
    return samples[target_columns(classes)].to_numpy(dtype=np.float32)


@dataclass(frozen=True)
class SampleTable:
    """The one sample table every data source (a folder, a manifest, a built-in dataset) produces.

    Attributes:
        root: the folder image paths are relative to.
        classes: class names, sorted; a sample's label is an index into this list. Multi-label: the label names.
        samples: one row per image with columns ``path`` (relative to root, '/'-separated), ``label``
            and ``split`` (``train``/``val``/``test`` for a pre-split folder, empty otherwise). Multi-label:
            ``label`` is -1 and the :func:`target_columns` hold each label's 1.0/0.0/NaN.
        skipped: ``(path, reason)`` of the image files left out (cannot be decoded, or missing).
        task: ``single_label`` (one class per image) or ``multi_label`` (any set of labels per image).
    """

    root: Path
    classes: list[str]
    samples: pd.DataFrame
    skipped: tuple[tuple[str, str], ...] = ()
    task: str = SINGLE_LABEL

    @property
    def multi_label(self) -> bool:
        return self.task == MULTI_LABEL

    @property
    def presplit(self) -> bool:
        return bool((self.samples["split"] != "").any())
