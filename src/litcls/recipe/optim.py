"""Optimizers and learning-rate schedules by name (``--optimizer``, ``--scheduler``, ``--warmup-epochs``).

The schedules step once per epoch. With ``--warmup-epochs N`` the rate rises linearly first: epoch ``e`` (0-based,
``e < N``) trains at ``lr * (e + 1) / (N + 1)`` -- the first epoch at ``lr / (N + 1)`` -- and epoch ``N`` at
``lr``, where the chosen schedule starts, planned over the remaining ``epochs - N`` epochs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litcls.suggest import did_you_mean

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "cosine", "step", "plateau")
# schedules that need a validation metric at each step: torch's SequentialLR cannot chain them after a warmup
METRIC_SCHEDULERS = ("plateau",)


def build_optimizer(name: str, params: Iterable[Any], lr: float, weight_decay: float) -> Any:
    """``sgd`` (momentum 0.9, Nesterov), ``adam`` or ``adamw``."""
    import torch

    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}{did_you_mean(name, OPTIMIZERS)}; valid: {', '.join(OPTIMIZERS)}")


def build_scheduler(name: str, optimizer: Any, epochs: int, warmup_epochs: int = 0, mode: str = "min") -> Any:
    """The epoch-level schedule, or None for ``none`` without warmup.

    Args:
        name: ``none``, ``cosine`` (to 0 over the epochs after warmup), ``step`` (x0.1 every third of them) or
            ``plateau`` (x0.1 after two epochs without improvement of the monitored metric, ``mode`` min or max).
        epochs: planned number of epochs, warmup included.
        warmup_epochs: epochs of linear warmup first (not with ``plateau``).
    """
    from torch.optim import lr_scheduler

    if name == "plateau":
        if warmup_epochs:
            raise ValueError("--warmup-epochs does not chain with --scheduler plateau")
        return lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=0.1, patience=2)
    after = max(1, epochs - warmup_epochs)
    if name == "none":
        main = lr_scheduler.LambdaLR(optimizer, lambda _: 1.0) if warmup_epochs else None
    elif name == "cosine":
        main = lr_scheduler.CosineAnnealingLR(optimizer, T_max=after)
    elif name == "step":
        main = lr_scheduler.StepLR(optimizer, step_size=max(1, after // 3), gamma=0.1)
    else:
        raise ValueError(f"unknown scheduler {name!r}{did_you_mean(name, SCHEDULERS)}; valid: {', '.join(SCHEDULERS)}")
    if not warmup_epochs:
        return main
    warmup = lr_scheduler.LinearLR(optimizer, start_factor=1 / (warmup_epochs + 1), end_factor=1.0,
                                   total_iters=warmup_epochs)
    return lr_scheduler.SequentialLR(optimizer, [warmup, main], milestones=[warmup_epochs])
