"""What every task answers (:class:`Task`), and the per-label thresholds that decide a sigmoid output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np


class Task(Protocol):
    """The questions the rest of the code asks a task. Arrays are numpy or torch, as the caller holds them: a
    method returns the kind it was given.

    Attributes:
        name: the task's name (``single_label``), the checkpoint hyperparameter ``task`` and the metric table's tag.
        multi_hot: targets are (N, L) float vectors (1, 0, NaN = ignored), not class indices.
        activation: ``softmax`` or ``sigmoid``: what turns the logits into probabilities.
        default_monitor: the validation metric that picks the best checkpoint when ``--monitor`` is not given.
        losses: names of the losses (:data:`litcls.recipe.losses.LOSSES`) that fit the task's targets.
        output_note: what an exported model's output is, for its model card.
    """

    name: str
    multi_hot: bool
    activation: str
    default_monitor: str
    losses: tuple[str, ...]
    output_note: str

    def probabilities(self, logits: Any, temperature: Any = 1.0) -> Any:
        """Probabilities of ``logits / temperature`` (the last axis holds the classes or labels)."""

    def log_probabilities(self, logits: Any) -> Any:
        """Their logarithms, computed stably (torch)."""

    def decide(self, probabilities: Any, thresholds: Mapping[int, float] | None = None) -> Any:
        """The decisions: a class index per row (single-label) or a 0/1 call per label (multi-label)."""

    def confidence(self, probabilities: Any) -> Any:
        """The probability of each decision, per row (single-label) or per cell (multi-label)."""

    def nll(self, logits: np.ndarray, truth: np.ndarray, temperature: float = 1.0) -> float:
        """Mean negative log-likelihood of the truth under the probabilities of ``logits / temperature``, float64."""

    def all_correct(self, logits: np.ndarray, truth: np.ndarray) -> bool:
        """Whether every decision at the default rule is right (no temperature can then be fitted)."""

    def metric_targets(self, targets: Any) -> Any:
        """The targets the training metrics compare with, from the loss's targets (mixed soft targets included)."""

    def truth(self, samples: Any, classes: list[str]) -> np.ndarray:
        """The targets of the sample table's rows, as the evaluation compares them with the decisions."""

    def stratification_key(self, samples: Any, classes: list[str]) -> np.ndarray:
        """What splits of the sample table are stratified on."""

    def explained(self, probabilities: np.ndarray, thresholds: Mapping[int, float] | None = None) -> list[list[int]]:
        """Per row, the outputs Grad-CAM explains (the decided class; the labels called positive)."""


def called(scores: Any, thresholds: Any) -> Any:
    """``scores >= thresholds``: per label, the images called positive (the convention of scikit-learn's
    ``roc_curve``). ``scores`` (N, L) or (N,); ``thresholds`` one per label, broadcast over the rows."""
    return scores >= thresholds


def threshold_vector(thresholds: Mapping[int, float] | None, labels: int, default: float = 0.5) -> np.ndarray:
    """(L,) float64 thresholds from ``{label index: threshold}``; a label without one gets ``default``."""
    vector = np.full(labels, default, dtype=np.float64)
    for label, value in (thresholds or {}).items():
        vector[int(label)] = float(value)
    return vector


def operating_thresholds(decision: Mapping[str, Any], class_names: list[str],
                         calibrated: bool = True) -> dict[int, float]:
    """The per-label thresholds a checkpoint's stored ``decision`` holds, ``{label index: threshold}``, on the
    calibrated probabilities unless ``calibrated`` is False; {} when it holds none.

    A two-class single-label decision stores one (``positive_class``, ``threshold``, ``threshold_calibrated``):
    the one-label case. A multi-label decision stores ``thresholds`` and ``thresholds_calibrated``, by label name.
    """
    if "thresholds" in decision:
        chosen = decision["thresholds_calibrated" if calibrated else "thresholds"]
        return {class_names.index(name): float(value) for name, value in chosen.items()}
    if "threshold" in decision:
        value = decision["threshold_calibrated"] if calibrated else decision["threshold"]
        return {class_names.index(decision["positive_class"]): float(value)}
    return {}
