"""``--lr-find`` and ``--cache-features`` under DDP: done once, by the process that launches the others, before
it launches them.

Lightning's DDP launcher (``--strategy ddp``) starts the other processes when the first one reaches
``trainer.fit``: it runs the same command again with ``LOCAL_RANK`` set to 1, 2, ..., so every process it starts
goes again through everything that comes before ``fit``. By then the first process has found the learning rate on
one device (written with the run's ``config.yaml``) and extracted the features (the cache file, whose name is a
hash of all they depend on); the processes started later read both instead of doing the work again. The later
folds of a k-fold run find every process running in one process group: the first finds the fold's rate while the
others wait for it, and the features of every fold are already in the cache. Where every process starts at once
(torchrun, a multi-task SLURM job, several nodes) there is no first process to do it, so the flags are refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lightning as L
import torch
import yaml
from torchmetrics import Metric

from litcls.callbacks.freeze_backbone import UNFREEZE_NEEDS_ONE_PROCESS
from litcls.config import TrainConfig
from litcls.errors import UserError
from litcls.processes import external_job_id
from litcls.runs.lr_find import find_lr
from litcls.runs.new_folder import RUN_DIR_ENV


def check_launch(config: TrainConfig, processes: int) -> None:
    """Refuse, before any work, the distributed launches in which the first process cannot prepare for the others,
    and a backbone unfrozen under DDP.

    Args:
        processes: how many processes the hardware flags start.
    """
    model = config.model
    if processes > 1 and model.unfreeze_at_epoch is not None:  # as the callback refuses it, but before the launch
        raise UserError(UNFREEZE_NEEDS_ONE_PROCESS)
    flags = [flag for flag, on in (("--cache-features", model.cache_features), ("--lr-find", model.lr_find)) if on]
    if processes < 2 or not flags:
        return
    if external_job_id() is not None or config.hardware.num_nodes > 1:
        raise UserError(f"{' and '.join(flags)}: under torchrun, SLURM or several nodes all {processes} processes "
                        "start at once, and none can prepare for the others; start the run with Lightning's "
                        "launcher on one machine (python train.py --devices N), or run on one device (--devices 1)"
                        + (", or find the rate there and pass it as --lr" if config.model.lr_find else ""))


def find_rate_once(config: TrainConfig, module: L.LightningModule, datamodule: L.LightningDataModule,
                   run_dir: Path) -> tuple[float, float | None]:
    """``--lr-find`` found once per run, whatever the number of processes: (the rate to train with, the finder's
    suggestion or None in the processes that did not run it).

    * One process, or the first before it launches the others: run the finder (:func:`litcls.runs.lr_find.find_lr`).
    * A process the launcher started: read the rate the first one wrote into ``config.yaml`` before starting it.
    * Every process already running in one process group (the folds of a k-fold run after the first): the first
      runs the finder on its own device while the others wait for the rate it sends them.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        found: list = [None]
        if torch.distributed.get_rank() == 0:
            with metrics_of_this_process(module):
                found = [find_lr(config, module, datamodule, run_dir)]
        torch.distributed.broadcast_object_list(found, src=0)
        if torch.distributed.get_rank() == 0:
            return found[0]
        return _announce(found[0][0], torch.distributed.get_rank()), None
    if started_by_launcher():
        rate = float(yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))["lr"])
        return _announce(rate, int(os.environ["LOCAL_RANK"])), None
    return find_lr(config, module, datamodule, run_dir)


def started_by_launcher() -> bool:
    """True in a process that Lightning's DDP launcher started once the first process had reached ``fit``."""
    return os.environ.get("LOCAL_RANK", "0") != "0" and RUN_DIR_ENV in os.environ


@contextmanager
def metrics_of_this_process(module: L.LightningModule) -> Iterator[None]:
    """The module's torchmetrics computed from this process's updates alone: the other processes are waiting for
    the rate, not joining the gather a synced ``compute`` would start."""
    metrics = [metric for metric in module.modules() if isinstance(metric, Metric)]
    available = [metric.distributed_available_fn for metric in metrics]
    for metric in metrics:
        metric.distributed_available_fn = _alone
    try:
        yield
    finally:
        for metric, function in zip(metrics, available, strict=True):
            metric.distributed_available_fn = function


def _alone() -> bool:
    return False


def _announce(rate: float, rank: int) -> float:
    print(f"--lr-find: process {rank} trains with {rate:.4g}, the rate the first process found", flush=True)
    return rate
