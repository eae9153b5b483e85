"""Settings that do not fit the data: the batch size chosen for a small split, and warnings with the fix.

Each message names the number at fault and what to pass instead; none stops the run (the user may know better).
"""

from __future__ import annotations

import warnings

from lightning.pytorch.utilities import rank_zero_info

from litcls.data.batching import MIN_STEPS_PER_EPOCH, auto_batch_size, steps_per_epoch
from litcls.data.image_size import format_image_size
from litcls.processes import is_main_process

# a model run at 1/8 of the size it is designed for keeps a feature map of a pixel or two
SMALL_IMAGE_RATIO = 8


def settle_batch_size(batch_size: int | None, train_images: int, processes: int) -> int:
    """``--batch-size`` when given (with a warning when it leaves too few steps), else :func:`auto_batch_size`.

    Args:
        batch_size: ``--batch-size``, or None to choose.
        train_images: images in the training split.
        processes: processes that share each epoch (DDP).
    """
    suggested = auto_batch_size(train_images, processes)
    if batch_size is None:
        steps = steps_per_epoch(train_images, suggested, processes)
        rank_zero_info(f"batch size {suggested} per process, chosen for {train_images} training images: {steps} "
              f"optimizer steps per epoch (--batch-size sets it)")
        return suggested
    steps = steps_per_epoch(train_images, batch_size, processes)
    fix = (f"leave --batch-size out to choose {suggested} ({steps_per_epoch(train_images, suggested, processes)} "
           "steps per epoch)" if suggested < batch_size else "add images")
    if batch_size * processes > train_images:
        _warn(f"--batch-size {batch_size} is larger than the training split ({train_images} images"
              f"{_on(processes)}): every epoch is a single optimizer step; {fix}")
    elif steps < MIN_STEPS_PER_EPOCH:
        _warn(f"--batch-size {batch_size} gives {steps} optimizer steps per epoch over {train_images} training "
              f"images{_on(processes)}: too few for batch-norm statistics and early stopping to settle; {fix}")
    return batch_size


def warn_small_images(model: str, img_size: tuple[int, int], designed_for: int) -> None:
    """Warn when ``--img-size`` (its shorter side) is a small fraction of the size the model is designed for."""
    side = min(img_size)
    if side * SMALL_IMAGE_RATIO <= designed_for:
        _warn(f"--img-size {format_image_size(img_size)} is {designed_for / side:.0f}x below the {designed_for} px "
              f"--model {model} "
              f"is designed for: its last layers see a pixel or two, and Grad-CAM can only explain an early "
              f"layer; use --img-size {designed_for // 4} or more, or a model for small images (cnn, resnet20; "
              "see --list-models)")


def _on(processes: int) -> str:
    return f" shared by {processes} processes" if processes > 1 else ""


def _warn(message: str) -> None:
    if is_main_process():
        warnings.warn(message, stacklevel=3)
