"""A trained module wrapped to take decoded image pixels and return calibrated probabilities: what an exported
graph holds, so that a user of the exported file re-implements none of training's preprocessing."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from litcls.inference.opencv_resize import resize_like_training
from litcls.models.module import ClassifierModule


class RawImageClassifier(nn.Module):
    """uint8 pixels (N, H, W, 3) RGB, or (N, H, W) grey for a model trained with ``--in-chans 1``, any H and W ->
    probabilities (N, num_classes) in class order (multi-label: (N, num_labels), a sigmoid per label).

    Inside: training's resize (:func:`~litcls.inference.opencv_resize.resize_like_training`, by the checkpoint's
    ``--resize``), scaling to [0, 1] and the per-channel normalisation, the network, the division by the
    calibration temperature, the task's activation (softmax for single-label, a sigmoid per label for multi-label).

    Args:
        module: the trained module (its network, preprocessing and ``decision`` are read, not copied).
        temperature: the logits are divided by it (1: the model's own probabilities); multi-label: one per label.
    """

    def __init__(self, module: ClassifierModule, temperature: float | Sequence[float] = 1.0):
        super().__init__()
        pre = module.preprocessing
        self.model = module.model
        self.task = module.task
        self.size = pre.img_size
        self.resize = pre.resize
        self.grey = pre.in_chans == 1
        self.register_buffer("mean", torch.tensor(pre.mean, dtype=torch.float32).view(1, -1, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(pre.std, dtype=torch.float32).view(1, -1, 1, 1) * 255)
        self.register_buffer("temperature", torch.tensor(temperature, dtype=torch.float32))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        if self.grey:
            images = pixels[:, None].float()  # (N, H, W) uint8 -> (N, 1, H, W)
        else:
            images = pixels.permute(0, 3, 1, 2).float()  # (N, H, W, 3) uint8 -> (N, 3, H, W)
        images = resize_like_training(images, self.size, self.resize)  # (N, C, S_h, S_w), whole levels in 0..255
        logits = self.model((images - self.mean) / self.std)  # (x / 255 - mean) / std, as A.Normalize
        return self.task.probabilities(logits, self.temperature)
