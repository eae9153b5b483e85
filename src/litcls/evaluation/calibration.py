"""Temperature scaling (Guo et al., 2017, "On Calibration of Modern Neural Networks"): one scalar T > 0 divides
the logits, fitted on the validation split by minimising the negative log-likelihood (NLL).

Dividing by T changes no argmax prediction, and in a two-class task no ranking (so no AUROC and no operating
point); it only makes the probabilities say what they mean: among images predicted with probability 0.9, about
90% correct. The expected calibration error (ECE, 15 equal-width bins, the metric table's ``ece``) and the NLL
are reported before and after, on validation (where T was fitted, so optimistic) and on test.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

# T is searched in [1/20, 20]: wide enough for any trained network, and finite when the validation images are
# separable (their NLL then keeps falling as T -> 0).
TEMPERATURE_RANGE = (0.05, 20.0)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true labels under softmax(logits / temperature), in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    return float(-log_softmax(logits / temperature, axis=1)[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> tuple[float, str]:
    """The temperature that minimises the NLL of ``labels`` (bounded scalar search over log T), and a note.

    Without a single validation mistake the NLL keeps falling as T shrinks: the fit would only make every
    probability 0 or 1. Then T = 1 (no calibration) and the note says why.
    """
    if (np.asarray(logits).argmax(axis=1) == np.asarray(labels)).all():
        return 1.0, ("every validation image is classified correctly, so the validation split cannot tell how "
                     "confident the model should be: no temperature fitted (T = 1)")
    low, high = (math.log(bound) for bound in TEMPERATURE_RANGE)
    found = minimize_scalar(lambda log_t: nll(logits, labels, math.exp(log_t)), bounds=(low, high), method="bounded",
                            options={"xatol": 1e-5})
    return float(math.exp(found.x)), ""


def calibrated_probabilities(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T) as float32, computed as the module computes its probabilities."""
    return torch.softmax(torch.from_numpy(np.asarray(logits, dtype=np.float32)) / temperature, dim=1).numpy()


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
