"""Temperature scaling (Guo et al., 2017, "On Calibration of Modern Neural Networks"): one scalar T > 0 divides
the logits, fitted on the validation split by minimising the negative log-likelihood (NLL).

Dividing by T changes no argmax prediction, and in a two-class task no ranking (so no AUROC and no operating
point); it only makes the probabilities say what they mean: among images predicted with probability 0.9, about
90% correct. The expected calibration error (ECE, 15 equal-width bins, the metric table's ``ece``) and the NLL
are reported before and after, on validation (where T was fitted, so optimistic) and on test.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize_scalar

from litcls.tasks import Task, task_for

# T is searched in [1/20, 20]: wide enough for any trained network, and finite when the validation images are
# separable (their NLL then keeps falling as T -> 0).
TEMPERATURE_RANGE = (0.05, 20.0)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: Any = 1.0, task: Task | None = None) -> float:
    """Mean negative log-likelihood of the true labels under the task's probabilities of logits / temperature
    (softmax for single-label), in float64."""
    return (task or task_for(None)).nll(logits, labels, temperature)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, task: Task | None = None) -> tuple[float, str]:
    """The temperature that minimises the NLL of ``labels`` (bounded scalar search over log T), and a note.

    Without a single validation mistake the NLL keeps falling as T shrinks: the fit would only make every
    probability 0 or 1. Then T = 1 (no calibration) and the note says why.
    """
    task = task or task_for(None)
    if task.all_correct(logits, labels):
        return 1.0, ("every validation image is classified correctly, so the validation split cannot tell how "
                     "confident the model should be: no temperature fitted (T = 1)")
    low, high = (math.log(bound) for bound in TEMPERATURE_RANGE)
    found = minimize_scalar(lambda log_t: task.nll(logits, labels, math.exp(log_t)), bounds=(low, high),
                            method="bounded", options={"xatol": 1e-5})
    return float(math.exp(found.x)), ""


def calibrated_probabilities(logits: np.ndarray, temperature: Any, task: Task | None = None) -> np.ndarray:
    """The task's probabilities of logits / T as float32, computed as the module computes its probabilities."""
    return (task or task_for(None)).probabilities(np.asarray(logits, dtype=np.float32), temperature)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The metric table's ``ece`` (torchmetrics, 15 bins, L1) of ``probabilities`` against ``labels``."""
    from litcls.evaluation.metrics import spec

    metric = spec("ece").factory(probabilities.shape[1], None, sync_on_compute=False)
    return float(metric(torch.from_numpy(np.array(probabilities, dtype=np.float32)),  # a copy: may be read-only
                        torch.as_tensor(np.array(labels, dtype=np.int64))))


def calibration_metrics(logits: np.ndarray, labels: np.ndarray, temperature: float) -> dict[str, float]:
    """``ece``, ``ece_calibrated``, ``nll``, ``nll_calibrated`` of one split."""
    return {
        "ece": expected_calibration_error(calibrated_probabilities(logits, 1.0), labels),
        "ece_calibrated": expected_calibration_error(calibrated_probabilities(logits, temperature), labels),
        "nll": nll(logits, labels),
        "nll_calibrated": nll(logits, labels, temperature),
    }
