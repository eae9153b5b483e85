"""The two-class metrics at an operating point, defined once from the four counts of its calls.

The point estimate (:func:`litcls.evaluation.threshold.point_metrics`: counts of images) and the bootstrap
(:mod:`litcls.evaluation.bootstrap`: counts weighted by how often each image was drawn, for every replicate at
once) compute them here, so their definitions cannot drift apart. A metric whose denominator is zero (no positive
image, no positive call) is NaN: undefined, not 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

POINT_METRICS = ("sensitivity", "specificity", "ppv", "npv", "f1_at_threshold")


def ratio(numerator: Any, denominator: Any) -> np.ndarray:
    """``numerator / denominator`` elementwise, NaN where the denominator is not positive."""
    numerator, denominator = np.asarray(numerator), np.asarray(denominator)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


def two_class_metrics(tp: Any, fp: Any, fn: Any, tn: Any) -> dict[str, np.ndarray]:
    """Sensitivity, specificity, PPV, NPV and F1 of the positive class (:data:`POINT_METRICS`) from true/false
    positive/negative counts: numbers, or arrays of one count per bootstrap replicate."""
    return {"sensitivity": ratio(tp, tp + fn), "specificity": ratio(tn, tn + fp), "ppv": ratio(tp, tp + fp),
            "npv": ratio(tn, tn + fn), "f1_at_threshold": ratio(2 * tp, 2 * tp + fp + fn)}
