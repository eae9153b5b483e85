"""A trained module wrapped to take decoded image pixels and return calibrated probabilities: what an exported
graph holds, so that a user of the exported file re-implements none of training's preprocessing."""

from __future__ import annotations

import torch
from torch import nn

from litcls.inference.opencv_resize import resize_like_training
from litcls.models.module import ClassifierModule

CHANNELS = 3  # every image is decoded to RGB for training (litcls.data.decode); greyscale is repeated to RGB


class RawImageClassifier(nn.Module):
    """uint8 pixels (N, H, W, 3), any H and W -> probabilities (N, num_classes) in class order.

    Inside: training's resize (:func:`~litcls.inference.opencv_resize.resize_like_training`), scaling to [0, 1]
    and the per-channel normalisation, the network, the division by the calibration temperature, the task's
    activation (softmax for single-label).

    Args:
        module: the trained module (its network, preprocessing and ``decision`` are read, not copied).
        temperature: the logits are divided by it (1: the model's own probabilities).
    """

    def __init__(self, module: ClassifierModule, temperature: float = 1.0):
        super().__init__()
        pre = module.preprocessing
        self.model = module.model
        self.task = module.task
        self.size = pre.img_size
        self.register_buffer("mean", torch.tensor(pre.mean, dtype=torch.float32).view(1, -1, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(pre.std, dtype=torch.float32).view(1, -1, 1, 1) * 255)
        self.register_buffer("temperature", torch.tensor(float(temperature), dtype=torch.float32))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        images = pixels.permute(0, 3, 1, 2).float()  # (N, H, W, 3) uint8 -> (N, 3, H, W)
        images = resize_like_training(images, self.size)  # (N, 3, S, S), whole levels in 0..255
        logits = self.model((images - self.mean) / self.std)  # (x / 255 - mean) / std, as A.Normalize
        return self.task.probabilities(logits, self.temperature)
