"""The decision of an ensemble: one temperature and, for two classes, one operating threshold for the mean of its
members' probabilities, fitted on held-out predictions only (never on test).

The ensemble's probability is ``p = mean over members of softmax(z_m)``, each member's own (uncalibrated)
probabilities with equal weights. Calibration divides its log by one temperature, ``softmax(log p / T)``
("pool, then calibrate"): with T = 1 it is exactly the uncalibrated mean (what ``--no-calibration`` reports), it
never changes the most probable class, and it needs nothing but the members' probabilities, so the predictions
files the members wrote are enough to fit it. (Averaging the members' logits instead would make the uncalibrated
ensemble something other than the mean of their probabilities.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import expit, logit

from litcls.evaluation.calibration import fit_temperature, nll
from litcls.evaluation.threshold import choose_threshold, parse_rule

TINY = float(np.finfo(np.float32).tiny)  # a probability that underflowed to 0 keeps a finite log


def mean_probabilities(members: Sequence[np.ndarray]) -> np.ndarray:
    """(N, C) mean of the members' (N, C) probabilities, equal weights."""
    return np.mean(np.stack([np.asarray(member, dtype=np.float64) for member in members]), axis=0)


def ensemble_logits(probabilities: np.ndarray) -> np.ndarray:
    """log of the ensemble's mean probabilities: softmax of them gives the mean back, divided by T first the
    calibrated ensemble."""
    return np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), TINY))


def calibrated_threshold(threshold: float, temperature: float) -> float:
    """The threshold on the calibrated probability that calls the same images positive as ``threshold`` on the
    uncalibrated one (two classes: softmax(log p / T) of the positive class is sigmoid(logit(p) / T))."""
    if threshold > 1:  # above every probability: nothing is called positive, calibrated or not
        return float(threshold)
    return float(expit(logit(threshold) / temperature))


def fit_ensemble_decision(probabilities: np.ndarray, labels: np.ndarray, classes: list[str],
                          positive: int | None, rule: str | None) -> dict:
    """The ensemble's temperature (and two-class threshold) fitted on held-out rows.

    Args:
        probabilities: (N, C) the ensemble's uncalibrated probabilities of the held-out rows (out-of-fold rows,
            or validation rows no member trained on); never a test row.
        labels: their true labels.
        positive: the positive class of a two-class task (None: no threshold).
        rule: ``--threshold-rule`` (None: the default rule).

    Returns:
        ``temperature``, ``fit_images``, ``nll``/``nll_calibrated`` on the fitted rows, a ``note`` when nothing
        was fitted; for two classes ``positive_class``, ``threshold_rule``, ``threshold`` (on the uncalibrated
        mean) and ``threshold_calibrated`` (the same calls on the calibrated probabilities).
    """
    from litcls.evaluation.threshold import DEFAULT_RULE

    logits = ensemble_logits(probabilities)
    labels = np.asarray(labels, dtype=np.int64)
    temperature, note = fit_temperature(logits, labels)
    decision = {"temperature": temperature, "fit_images": len(labels), "nll": nll(logits, labels),
                "nll_calibrated": nll(logits, labels, temperature), **({"note": note} if note else {})}
    if positive is not None:
        parsed = parse_rule(rule or DEFAULT_RULE)
        threshold, threshold_note = choose_threshold(np.asarray(probabilities)[:, positive], labels == positive,
                                                     parsed)
        decision |= {"positive_class": classes[positive], "threshold_rule": str(parsed), "threshold": threshold,
                     "threshold_calibrated": calibrated_threshold(threshold, temperature)}
        if threshold_note:
            decision["threshold_note"] = threshold_note
    return decision
