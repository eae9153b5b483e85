"""Single-label classification: one class per image, a softmax over the classes, the most probable class decided
(or, with two classes and an operating threshold, the positive class where its probability reaches it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def as_tensor(values: Any) -> tuple[Any, bool]:
    """A float32 torch tensor of ``values`` and whether they came as numpy (to hand numpy back)."""
    import torch

    if isinstance(values, torch.Tensor):
        return values, False
    return torch.from_numpy(np.asarray(values, dtype=np.float32)), True


class SingleLabel:
    """One class per image (an integer label); see :class:`litcls.tasks.base.Task` for what each method answers."""

    name = "single_label"
    multi_hot = False
    activation = "softmax"
    default_monitor = "val/loss"
    losses = ("ce", "focal")
    output_note = "logits (batch, num_classes); softmax gives probabilities in class_names order"

    def probabilities(self, logits: Any, temperature: Any = 1.0) -> Any:
        """softmax(logits / temperature) over the last axis, float32 (the module's metrics see these)."""
        import torch

        tensor, from_numpy = as_tensor(logits)
        probabilities = torch.softmax(tensor / temperature, dim=-1)
        return probabilities.numpy() if from_numpy else probabilities

    def log_probabilities(self, logits: Any) -> Any:
        import torch

        return torch.log_softmax(logits, dim=-1)

    def decide(self, probabilities: Any, thresholds: Mapping[int, float] | None = None) -> Any:
        """The most probable class per row; with ``{positive: threshold}`` (two classes) the positive class where its
        probability reaches the threshold, the other class elsewhere (numpy labels)."""
        if not thresholds:
            return probabilities.argmax(-1)
        from litcls.tasks.base import called

        ((positive, threshold),) = thresholds.items()
        scores = np.asarray(probabilities, dtype=np.float64)[:, positive]
        return np.where(called(scores, float(threshold)), positive, 1 - positive).astype(np.int64)

    def confidence(self, probabilities: Any) -> Any:
        """The top probability of each row."""
        return probabilities.max(axis=-1) if isinstance(probabilities, np.ndarray) else probabilities.amax(-1)

    def nll(self, logits: np.ndarray, truth: np.ndarray, temperature: float = 1.0) -> float:
        from scipy.special import log_softmax

        logits = np.asarray(logits, dtype=np.float64)
        labels = np.asarray(truth, dtype=np.int64)
        return float(-log_softmax(logits / temperature, axis=1)[np.arange(len(labels)), labels].mean())

    def all_correct(self, logits: np.ndarray, truth: np.ndarray) -> bool:
        return bool((np.asarray(logits).argmax(axis=1) == np.asarray(truth)).all())

    def metric_targets(self, targets: Any) -> Any:
        """Hard labels as they are; mixed soft targets (B, C) -> each image's dominant label (the larger share)."""
        return targets.argmax(dim=1) if targets.dim() > 1 else targets

    def truth(self, samples: Any, classes: list[str]) -> np.ndarray:
        """The class index of each row of the sample table."""
        return samples["label"].to_numpy(dtype=np.int64)

    def stratification_key(self, samples: Any, classes: list[str]) -> np.ndarray:
        return self.truth(samples, classes)

    def explained(self, probabilities: np.ndarray, thresholds: Mapping[int, float] | None = None) -> list[list[int]]:
        return [[int(label)] for label in self.decide(probabilities, thresholds)]
