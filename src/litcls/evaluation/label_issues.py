"""Images whose given label the out-of-fold predictions doubt: confident learning (Northcutt, Jiang & Chuang 2021,
"Confident Learning: Estimating Uncertainty in Dataset Labels") through ``cleanlab``.

Each image's probabilities must come from a model that did not train on it (a k-fold run's out-of-fold
predictions); otherwise the model has learned the wrong label and agrees with it. cleanlab estimates, per pair of
classes, how many images labelled one class belong to the other (the confident joint, with a per-class
confidence threshold), keeps that many images per pair whose given label is least probable, and ranks them by
self-confidence: the out-of-fold probability of the given label, lowest first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from litcls.evaluation.predictions import probabilities_of
from litcls.tasks import SingleLabel

COLUMNS = ["rank", "path", "given_class", "suggested_class", "given_probability", "suggested_probability"]


def find_label_issues(oof: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    """The suspected label errors among the rows of an out-of-fold predictions table, most suspect first.

    Args:
        oof: the columns of ``oof_predictions.csv``: ``path``, ``label``, ``prob_<class>`` per class[, ``group``].
        classes: the class names, in label order.

    Returns:
        One row per suspect: ``rank`` (1 = most suspect), ``path``, ``given_class``, ``suggested_class`` (the most
        probable class out of fold), ``given_probability`` (out-of-fold probability of the given class; its
        ranking score), ``suggested_probability``, then ``group`` when the table has groups.
    """
    from cleanlab.filter import find_label_issues as cleanlab_issues

    labels = oof["label"].to_numpy(dtype=np.int64)
    probabilities = probabilities_of(oof, classes)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)  # float32 sums, as written, to 1
    # n_jobs=1: cleanlab's default forks a process pool per class, which hung a process already running torch threads
    suspects = cleanlab_issues(labels, probabilities, return_indices_ranked_by="self_confidence", n_jobs=1) \
        if len(oof) else np.zeros(0, dtype=np.int64)
    suggested = SingleLabel().decide(probabilities[suspects])  # the most probable class
    table = pd.DataFrame({
        "rank": np.arange(1, len(suspects) + 1),
        "path": oof["path"].to_numpy()[suspects],
        "given_class": [classes[label] for label in labels[suspects]],
        "suggested_class": [classes[label] for label in suggested],
        "given_probability": probabilities[suspects, labels[suspects]],
        "suggested_probability": probabilities[suspects, suggested]}, columns=COLUMNS)
    if "group" in oof:
        table["group"] = oof["group"].to_numpy()[suspects]
    return table
