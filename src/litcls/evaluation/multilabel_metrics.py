"""The multi-label rows of the metric table, as torchmetrics Metrics whose states are sums or torchmetrics' own, so
that they are exact over the evaluated split and under DDP.

Targets come as the task gives them (:meth:`litcls.tasks.MultiLabel.metric_targets`): 1, 0, or -1 where a cell is
ignored; an ignored cell counts in none of its label's numbers. A label is called positive where its probability
reaches its threshold (``>=``, as the operating thresholds are applied everywhere; torchmetrics' own threshold
metrics use ``>``, hence the counts here).

* AUROC and AP per label (torchmetrics), NaN for a label the evaluated cells leave undefined (no positive, or for
  AUROC no negative), macro-averaged over the others: a label absent from a split does not pull the mean to 0.
* F1 (macro over labels, micro over cells, per image), exact-match accuracy and Hamming loss from the calls at
  the thresholds (0.5 while training; the evaluation's per-label thresholds after it).
* ECE per label (15 equal-width bins of the label's probability, L1), averaged over the labels with known cells.
"""

from __future__ import annotations

import warnings

import torch
from torchmetrics import Metric
from torchmetrics.classification import MultilabelAUROC, MultilabelAveragePrecision

IGNORED = -1
ECE_BINS = 15
_UNDEFINED_LABEL_WARNINGS = r".*(positive|negative) samples.*|.*score for one or more classes was `nan`.*"


class _PresentLabels:
    """Per-label scores with NaN where undefined; the macro average over the defined labels."""

    needs_negatives = True

    def __init__(self, num_labels: int, average: str | None = "macro", thresholds: int | None = None,
                 **kwargs) -> None:
        if average not in ("macro", None):
            raise ValueError(f"average must be 'macro' or None, got {average!r}")
        super().__init__(num_labels, average=None, thresholds=thresholds, ignore_index=IGNORED, **kwargs)
        self.label_average = average
        for name in ("positives", "negatives"):
            self.add_state(name, default=torch.zeros(num_labels, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        super().update(preds, target)
        self.positives += (target == 1).sum(dim=0)
        self.negatives += (target == 0).sum(dim=0)

    def compute(self) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_UNDEFINED_LABEL_WARNINGS)
            scores = super().compute()
        defined = (self.positives > 0) & ((self.negatives > 0) | (not self.needs_negatives))
        scores = torch.where(defined, scores, torch.full_like(scores, float("nan")))
        if self.label_average is None:
            return scores
        return scores[defined].mean() if defined.any() else scores.new_tensor(float("nan"))


class PresentLabelAUROC(_PresentLabels, MultilabelAUROC):
    """``MultilabelAUROC`` per label over its known cells, NaN without positives or negatives, macro over the rest."""


class PresentLabelAveragePrecision(_PresentLabels, MultilabelAveragePrecision):
    """``MultilabelAveragePrecision`` per label over its known cells, NaN without positives, macro over the rest."""

    needs_negatives = False


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """Elementwise, NaN where the denominator is 0."""
    return torch.where(denominator > 0, numerator / denominator.clamp(min=1e-12), torch.full_like(numerator, torch.nan))


class CallsAtThresholds(Metric):
    """One number from the calls at per-label thresholds: ``f1_macro`` (over the labels with a positive image or
    call), ``f1_micro`` (over all known cells), ``f1_samples`` (per image over its known cells, then the mean; an
    image with no positive and no call scores 1), ``exact_match`` (every known cell of the image right) or
    ``hamming`` (share of known cells wrong). The rows of the table share one instance's state.

    Args:
        num_labels: L.
        output: which of the numbers :meth:`compute` returns.
        thresholds: (L,) thresholds or one number (default 0.5).
    """

    OUTPUTS = ("f1_macro", "f1_micro", "f1_samples", "exact_match", "hamming")
    full_state_update = False

    def __init__(self, num_labels: int, output: str, thresholds: float | torch.Tensor = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        if output not in self.OUTPUTS:
            raise ValueError(f"output must be one of {self.OUTPUTS}, got {output!r}")
        self.output = output
        self.register_buffer("thresholds", torch.as_tensor(thresholds, dtype=torch.float32).expand(num_labels).clone(),
                             persistent=False)
        for name in ("tp", "fp", "fn", "tn"):
            self.add_state(name, default=torch.zeros(num_labels, dtype=torch.float64), dist_reduce_fx="sum")
        for name in ("f1_sum", "exact", "images"):
            self.add_state(name, default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        known = target != IGNORED
        truth = (target == 1) & known
        called = (preds >= self.thresholds.to(preds.device, preds.dtype)) & known
        tp, fp, fn = (called & truth), (called & ~truth), (~called & truth)
        self.tp += tp.sum(dim=0)
        self.fp += fp.sum(dim=0)
        self.fn += fn.sum(dim=0)
        self.tn += (~called & ~truth & known).sum(dim=0)
        per_image = 2 * tp.sum(dim=1).double()
        denominator = per_image + fp.sum(dim=1) + fn.sum(dim=1)
        self.f1_sum += torch.where(denominator > 0, per_image / denominator.clamp(min=1), 1.0).sum()
        self.exact += ((fp | fn).sum(dim=1) == 0).sum()
        self.images += len(target)

    def compute(self) -> torch.Tensor:
        return self._value().float()

    def _value(self) -> torch.Tensor:
        if self.output == "f1_macro":
            scores = _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)
            seen = ~scores.isnan()
            return scores[seen].mean() if seen.any() else scores.new_tensor(float("nan"))
        if self.output == "f1_micro":
            tp, errors = self.tp.sum(), self.fp.sum() + self.fn.sum()
            return _ratio(2 * tp, 2 * tp + errors)
        if self.output == "f1_samples":
            return _ratio(self.f1_sum, self.images)
        if self.output == "exact_match":
            return _ratio(self.exact, self.images)
        cells = self.tp.sum() + self.fp.sum() + self.fn.sum() + self.tn.sum()
        return _ratio(self.fp.sum() + self.fn.sum(), cells)


class LabelCalibrationError(Metric):
    """Expected calibration error of each label's probability (15 equal-width bins, L1, over its known cells),
    averaged over the labels with known cells (``average=None``: per label, NaN without any)."""

    full_state_update = False

    def __init__(self, num_labels: int, average: str | None = "macro", **kwargs) -> None:
        super().__init__(**kwargs)
        self.label_average = average
        for name in ("count", "confidence", "positives"):
            self.add_state(name, default=torch.zeros(num_labels, ECE_BINS, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        known = (target != IGNORED).double()
        bins = (preds.double() * ECE_BINS).floor().clamp(0, ECE_BINS - 1).long()  # (N, L)
        one_hot = torch.nn.functional.one_hot(bins, ECE_BINS).double() * known.unsqueeze(-1)  # (N, L, B)
        self.count += one_hot.sum(dim=0)
        self.confidence += (one_hot * preds.double().unsqueeze(-1)).sum(dim=0)
        self.positives += (one_hot * (target == 1).double().unsqueeze(-1)).sum(dim=0)

    def compute(self) -> torch.Tensor:
        cells = self.count.sum(dim=1)
        gaps = (self.confidence - self.positives).abs().sum(dim=1)  # sum over bins of count * |conf - acc|
        scores = _ratio(gaps, cells)
        if self.label_average is None:
            return scores.float()
        seen = ~scores.isnan()
        return (scores[seen].mean() if seen.any() else scores.new_tensor(float("nan"))).float()
