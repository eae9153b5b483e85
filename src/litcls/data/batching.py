"""Batch sizes and epoch lengths that fit the training split, however small.

A student's first folder holds a few dozen images per class. With a fixed batch of 64 such a split gives two
optimizer steps per epoch, batch-norm statistics that lag far behind the weights, and early stopping that gives up
after ten steps. Here the batch size follows the split when the user did not set it, a last partial batch is
dropped only when it would hold a single image (a batch-norm layer cannot normalise one value), and early stopping
waits for a minimum number of steps, not only of epochs.
"""

from __future__ import annotations

import math

AUTO_BATCH_SIZES = (64, 32, 16, 8)
MIN_STEPS_PER_EPOCH = 10
MIN_PATIENCE_STEPS = 50
PRECISE_BN_BELOW_STEPS = 16


def steps_per_epoch(train_images: int, batch_size: int, processes: int = 1) -> int:
    """Optimizer steps in one epoch: each process's share in batches, the last partial one kept unless it holds
    a single image (see :func:`drop_last`)."""
    share = math.ceil(train_images / processes)
    return max(1, share // batch_size + (share % batch_size > 1))


def drop_last(share: int, batch_size: int) -> bool:
    """Drop a process's last training batch only when it would hold one image: batch norm fails on it in
    training mode, while any larger remainder is still worth a step."""
    return share > 1 and share % batch_size == 1


def auto_batch_size(train_images: int, processes: int = 1) -> int:
    """The largest of :data:`AUTO_BATCH_SIZES` that gives every epoch at least :data:`MIN_STEPS_PER_EPOCH`
    optimizer steps; the smallest when none does."""
    for size in AUTO_BATCH_SIZES:
        if steps_per_epoch(train_images, size, processes) >= MIN_STEPS_PER_EPOCH:
            return size
    return AUTO_BATCH_SIZES[-1]


def patience_epochs(patience: int, steps: int) -> int:
    """``--patience`` in epochs, raised so that early stopping waits at least :data:`MIN_PATIENCE_STEPS`
    optimizer steps without improvement (0 keeps early stopping off)."""
    return 0 if patience == 0 else max(patience, math.ceil(MIN_PATIENCE_STEPS / steps))
