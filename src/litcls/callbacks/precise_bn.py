"""Batch-norm statistics recomputed over the training split before each validation ("precise BN").

A batch-norm layer normalises with the current batch in training and with running averages in evaluation.
The averages move by 10% per step (momentum 0.1), so after a few steps of fast-changing weights they still
describe the weights of several steps ago: on a small folder (a handful of steps per epoch) evaluation then
collapses to one class while training accuracy climbs. Wu & Johnson, "Rethinking 'Batch' in BatchNorm" (2021),
section 3, recompute the population statistics with the final weights instead; this callback does that before
every validation of a fit, over the training images with the evaluation transform, in evaluation mode elsewhere
(dropout off). Layers whose weights are frozen (``--freeze-backbone``) keep the statistics they were loaded with.
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info
from torch import nn

from litcls.data.image_size import parse_image_size


class PreciseBatchNorm(L.Callback):
    """Before each validation inside ``fit``, set every trainable batch-norm layer's running mean and variance
    to their average over the training split, computed with the current weights.

    Under DDP every process averages over its share and the statistics are then averaged across processes,
    so all processes evaluate (and checkpoint) the same model.
    """

    def __init__(self, announce: str | None = None):
        self.announce = announce
        self._batches = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.announce and trainable_batch_norms(pl_module):
            rank_zero_info(f"batch-norm statistics are recomputed over the training split before each validation: "
                           f"{self.announce}")

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        layers = trainable_batch_norms(pl_module)
        if not layers or not hasattr(trainer.datamodule, "statistics_dataloader"):  # e.g. cached features
            return
        if self._batches is None:
            self._batches = _batches_to_reuse(trainer.datamodule.statistics_dataloader())
        recompute_statistics(pl_module, layers, self._batches, trainer)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._batches = None  # the decoded images are not needed after training


def _batches_to_reuse(loader, max_bytes: int = 256 * 2**20):
    """The loader's batches decoded once and kept, when they fit in ``max_bytes``: the evaluation transform is
    deterministic, so every pass would decode the same tensors. A larger split is decoded at every pass."""
    images = len(loader.sampler) if loader.sampler is not None else len(loader.dataset)
    height, width = parse_image_size(loader.dataset.min_size or 224)
    if images * loader.dataset.channels * height * width * 4 > max_bytes:
        return loader
    return [(batch_images, labels) for batch_images, labels in loader]


def trainable_batch_norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Batch-norm layers with running statistics whose weights train (a frozen backbone's keep theirs)."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
            and m.track_running_stats and any(p.requires_grad for p in m.parameters(recurse=False))]


@torch.no_grad()
def recompute_statistics(module: nn.Module, layers: list[nn.modules.batchnorm._BatchNorm], loader,
                         trainer: L.Trainer) -> None:
    """Replace the running statistics of ``layers`` by their equal-weight average over ``loader``'s batches
    (``momentum=None`` makes PyTorch keep a cumulative average), then average them across processes."""
    momenta = [layer.momentum for layer in layers]
    saved = [(layer.running_mean.clone(), layer.running_var.clone()) for layer in layers]
    batches = 0
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
        layer.train()
    try:
        with trainer.precision_plugin.forward_context():
            for images, _ in loader:
                module(images.to(module.device, non_blocking=True))
                batches += 1
    finally:
        for layer, momentum, (mean, var) in zip(layers, momenta, saved, strict=True):
            layer.momentum = momentum
            layer.eval()
            if not batches:  # nothing to average over (an empty share): keep what the layer had
                layer.running_mean.copy_(mean)
                layer.running_var.copy_(var)
    if trainer.world_size > 1:
        for layer in layers:
            layer.running_mean.copy_(trainer.strategy.reduce(layer.running_mean, reduce_op="mean"))
            layer.running_var.copy_(trainer.strategy.reduce(layer.running_var, reduce_op="mean"))
