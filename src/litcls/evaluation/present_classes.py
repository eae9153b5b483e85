"""AUROC and average precision, one-vs-rest, over the classes the evaluated images make defined.

torchmetrics scores a class without positive images 0 for AUROC (with a warning) and counts that 0 in the macro
average; a split where a rare class is absent would report a macro AUROC pulled down by a class nobody evaluated.
These subclasses give such a class NaN (an empty cell in ``classification_report.csv``) and average over the others,
as scikit-learn's per-class scores would. A class is defined when the images hold at least one of it and one of
another class. The counts are a summed state, so they are exact under DDP like the scores.
"""

from __future__ import annotations

import warnings

import torch
from torchmetrics.classification import MulticlassAUROC, MulticlassAveragePrecision

_UNDEFINED_CLASS_WARNINGS = r"No (positive|negative) samples in targets|.*score for one or more classes was `nan`"


class _PresentClasses:
    """Per-class scores with NaN for undefined classes; the macro average over the defined ones."""

    def __init__(self, num_classes: int, average: str | None = "macro", thresholds: int | None = None,
                 **kwargs) -> None:
        if average not in ("macro", None):
            raise ValueError(f"average must be 'macro' or None, got {average!r}")
        super().__init__(num_classes, average=None, thresholds=thresholds, **kwargs)
        self.class_average = average
        self.add_state("support", default=torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        super().update(preds, target)
        self.support += torch.bincount(target.reshape(-1).long(), minlength=self.num_classes)

    def compute(self) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_UNDEFINED_CLASS_WARNINGS)
            scores = super().compute()
        defined = (self.support > 0) & (self.support < self.support.sum())
        scores = torch.where(defined, scores, torch.full_like(scores, float("nan")))
        if self.class_average is None:
            return scores
        return scores[defined].mean() if defined.any() else scores.new_tensor(float("nan"))


class PresentClassAUROC(_PresentClasses, MulticlassAUROC):
    """``MulticlassAUROC`` (one-vs-rest), NaN for a class absent from the images, macro over the others."""


class PresentClassAveragePrecision(_PresentClasses, MulticlassAveragePrecision):
    """``MulticlassAveragePrecision`` (one-vs-rest), NaN for an absent class, macro over the others."""
