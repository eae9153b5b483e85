"""Multi-label classification: any number of labels per image, one sigmoid per label, each label called positive
where its probability reaches its own threshold (chosen on validation; 0.5 until then). A target is a float
vector of 1 (positive), 0 (negative) or NaN (ignored: left out of the loss and of that label's metrics)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from litcls.tasks.base import called, threshold_vector
from litcls.tasks.single_label import as_tensor

IGNORED = -1  # a NaN target cell, as torchmetrics' ``ignore_index`` takes it
TARGET_PREFIX = "target:"  # the sample table's column of a label: target:<name>


class MultiLabel:
    """Several labels per image; see :class:`litcls.tasks.base.Task` for what each method answers."""

    name = "multi_label"
    multi_hot = True
    activation = "sigmoid"
    default_monitor = "val/auroc"
    losses = ("bce", "asl")
    output_note = "logits (batch, num_labels); a sigmoid per label gives its probability, in class_names order"

    def probabilities(self, logits: Any, temperature: Any = 1.0) -> Any:
        """sigmoid(logits / temperature), float32; ``temperature`` one number or one per label."""
        import torch

        tensor, from_numpy = as_tensor(logits)
        if not isinstance(temperature, torch.Tensor) and np.ndim(temperature):
            temperature = torch.as_tensor(np.asarray(temperature, dtype=np.float32))
        probabilities = torch.sigmoid(tensor / temperature)
        return probabilities.numpy() if from_numpy else probabilities

    def log_probabilities(self, logits: Any) -> Any:
        import torch.nn.functional as F

        return F.logsigmoid(logits)

    def decide(self, probabilities: Any, thresholds: Mapping[int, float] | None = None) -> Any:
        """(N, L) 0/1: each label called where its probability reaches its threshold (0.5 without one)."""
        scores = np.asarray(probabilities, dtype=np.float64)
        return called(scores, threshold_vector(thresholds, scores.shape[-1])).astype(np.int64)

    def confidence(self, probabilities: Any) -> Any:
        """Per cell, the probability of the call at 0.5: p where positive, 1 - p where negative."""
        values = np.asarray(probabilities, dtype=np.float64)
        return np.maximum(values, 1 - values)

    def nll(self, logits: np.ndarray, truth: np.ndarray, temperature: Any = 1.0) -> float:
        """Mean binary cross-entropy over the known cells (NaN cells left out), float64."""
        scaled = np.asarray(logits, dtype=np.float64) / np.asarray(temperature, dtype=np.float64)
        truth = np.asarray(truth, dtype=np.float64)
        known = ~np.isnan(truth)
        # -log sigmoid(x) = log(1 + e^-x) for a positive, -log(1 - sigmoid(x)) = log(1 + e^x) for a negative
        losses = np.where(truth == 1, np.logaddexp(0, -scaled), np.logaddexp(0, scaled))
        return float(losses[known].mean()) if known.any() else float("nan")

    def all_correct(self, logits: np.ndarray, truth: np.ndarray) -> bool:
        truth = np.asarray(truth, dtype=np.float64)
        known = ~np.isnan(truth)
        return bool(((np.asarray(logits) >= 0) == (truth == 1))[known].all())

    def metric_targets(self, targets: Any) -> Any:
        """(B, L) int targets for torchmetrics: 1, 0, or :data:`IGNORED` where NaN; a mixed share counts as
        positive from one half."""
        import torch

        return torch.where(targets.isnan(), torch.full_like(targets, IGNORED), (targets >= 0.5).to(targets.dtype)
                           ).long()

    def truth(self, samples: Any, classes: list[str]) -> np.ndarray:
        """(N, L) float64 targets of the sample table's rows (its ``target:<label>`` columns), NaN where ignored."""
        return samples[[f"{TARGET_PREFIX}{name}" for name in classes]].to_numpy(dtype=np.float64)

    def stratification_key(self, samples: Any, classes: list[str]) -> np.ndarray:
        """(N, L) 0/1: every label at once, an ignored cell counted as negative."""
        return np.nan_to_num(self.truth(samples, classes)).astype(np.int64)

    def explained(self, probabilities: np.ndarray, thresholds: Mapping[int, float] | None = None) -> list[list[int]]:
        return [list(np.flatnonzero(row)) for row in self.decide(probabilities, thresholds)]
