"""Class weights for imbalanced data: ``--balance loss`` weighs the loss, ``--balance sampler`` the draws."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# a largest/smallest class ratio from which a run without --balance gets a hint
IMBALANCE_HINT_RATIO = 10


def class_weights(labels: Sequence[int], num_classes: int) -> list[float]:
    """Inverse class frequency, ``n / (classes * count)``: 1 for every class of a balanced set, and the
    weights average 1 over the samples (scikit-learn's "balanced").

    A class without training images gets weight 0: it cannot be drawn, and there is nothing to weigh.
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).astype(np.float64)
    present = np.count_nonzero(counts)
    weights = np.divide(len(labels), present * counts, out=np.zeros(num_classes), where=counts > 0)
    return weights.tolist()


def positive_weights(targets: np.ndarray) -> list[float]:
    """Multi-label ``--balance loss``: each label's negatives / positives over its known training cells (NaN
    ignored), the ``pos_weight`` of a binary cross-entropy, so a label's positives weigh as much as its negatives.
    A label without a positive or a negative gets 1."""
    targets = np.asarray(targets, dtype=np.float64)
    positives, negatives = (targets == 1).sum(axis=0), (targets == 0).sum(axis=0)
    return np.where((positives > 0) & (negatives > 0), negatives / np.maximum(positives, 1), 1.0).tolist()


def sample_weights(labels: Sequence[int], num_classes: int) -> list[float]:
    """One weight per sample, its class's weight, so weighted draws pick every class equally often."""
    per_class = class_weights(labels, num_classes)
    return [per_class[label] for label in labels]


def imbalance_hint(labels: Sequence[int], classes: list[str]) -> str | None:
    """A one-line hint when the largest class has at least ``IMBALANCE_HINT_RATIO`` times the smallest."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
    present = np.flatnonzero(counts)
    largest, smallest = present[np.argmax(counts[present])], present[np.argmin(counts[present])]
    ratio = counts[largest] / counts[smallest]
    if ratio < IMBALANCE_HINT_RATIO:
        return None
    return (f"the training split is imbalanced: {classes[largest]} has {counts[largest]} images, {classes[smallest]} "
            f"{counts[smallest]} ({ratio:.0f}x); consider --balance sampler or --balance loss, and --monitor "
            "val/f1_macro, which weighs every class equally")
