"""``--ema DECAY``: Lightning's weight averaging with an exponential moving average that warms up, confined to ``fit``.

The average after ``n`` updates moves with decay ``min(DECAY, (1 + n) / (10 + n))``, timm's EMA warmup
(``ModelEmaV3(use_warmup=True)``). Lightning's ``EMAWeightAveraging`` uses ``DECAY`` from the first step; at 0.999
the average then remembers its start for about a thousand steps, and a run on a small folder (the digits: 20
steps per epoch, 600 in 30 epochs) would still weigh the weights of its first step by 0.999^600 = 0.55.

Inside ``fit`` Lightning's callback validates with the averaged weights (so early stopping and the best checkpoint
follow them) and saves them as the checkpoint's ``state_dict``, with the raw weights and the average's state beside
them, so a resumed run continues both. Outside ``fit`` it would undo that: loading ``best.ckpt`` for the final
``validate``/``test`` puts the *raw* weights back into the model and swaps the average in only during those loops,
so everything after them (predictions, calibration, Grad-CAM) would see raw weights. Here the checkpoint's
``state_dict`` -- the average -- is simply what evaluation loads.

Put it before :class:`~litcls.callbacks.precise_bn.PreciseBatchNorm`: the average is swapped in first, and its
batch-norm statistics are then recomputed for the averaged weights.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import WeightAveraging
from lightning.pytorch.trainer.states import TrainerFn


def _fitting(trainer: L.Trainer) -> bool:
    return trainer.state.fn == TrainerFn.FITTING


@torch.no_grad()
def ema_update(averaged: list[torch.Tensor], current: list[torch.Tensor], updates: torch.Tensor,
               decay: float) -> None:
    """One step of the average over a group of same-device, same-type tensors (``AveragedModel``'s
    ``multi_avg_fn``), ``updates`` being those already made: one fused ``lerp`` per group, as torch's
    ``get_ema_multi_avg_fn``, rather than a few small operations per tensor."""
    made = float(updates)  # AveragedModel has already read it on the host this step
    weight = 1 - min(decay, (1 + made) / (10 + made))
    if torch.is_floating_point(averaged[0]) or torch.is_complex(averaged[0]):
        torch._foreach_lerp_(averaged, current, weight)
    else:  # integer buffers (batch norm's num_batches_tracked)
        for mean, value in zip(averaged, current, strict=True):
            mean.copy_(mean * (1 - weight) + value * weight)


class EMA(WeightAveraging):
    """Exponential moving average of the weights (and batch-norm buffers), updated after every optimizer step."""

    def __init__(self, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        super().__init__(multi_avg_fn=partial(ema_update, decay=decay))
        self.decay = decay

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if _fitting(trainer):
            super().on_validation_epoch_start(trainer, pl_module)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if _fitting(trainer):
            super().on_validation_epoch_end(trainer, pl_module)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        if _fitting(trainer):  # resuming: raw weights to train on, the average to continue
            super().on_load_checkpoint(trainer, pl_module, checkpoint)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        if _fitting(trainer):
            super().on_save_checkpoint(trainer, pl_module, checkpoint)
