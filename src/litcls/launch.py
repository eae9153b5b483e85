"""``--lr-find`` and ``--cache-features`` under DDP: done once, by the process that launches the others, before
it launches them.

Lightning's DDP launcher (``--strategy ddp``) starts the other processes when the first one reaches
``trainer.fit``: it runs the same command again with ``LOCAL_RANK`` set to 1, 2, ..., so every process it starts
goes again through everything that comes before ``fit``. By then the first process has found the learning rate on
one device (written with the run's ``config.yaml``) and extracted the features (the cache file, whose name is a
hash of all they depend on); the processes started later read both instead of doing the work again. Where every
process starts at once (torchrun, a multi-task SLURM job, several nodes) there is no first process to do it, so
the flags are refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from litcls.config import TrainConfig
from litcls.errors import UserError
from litcls.rundir import RUN_DIR_ENV, external_job_id


def check_launch(config: TrainConfig, processes: int) -> None:
    """Refuse, before any work, the distributed launches in which the first process cannot prepare for the others.

    Args:
        processes: how many processes the hardware flags start.
    """
    flags = [flag for flag, on in (("--cache-features", config.cache_features), ("--lr-find", config.lr_find)) if on]
    if processes < 2 or not flags:
        return
    one_device = "; or run on one device (--devices 1)"
    if external_job_id() is not None or config.num_nodes > 1:
        raise UserError(f"{' and '.join(flags)}: under torchrun, SLURM or several nodes all {processes} processes "
                        "start at once, and none can prepare for the others; start the run with Lightning's "
                        f"launcher on one machine (python train.py --devices N){one_device}"
                        + (", or find the rate there and pass it as --lr" if config.lr_find else ""))
    if config.lr_find and config.folds and config.fold is None:
        raise UserError(f"--lr-find with --folds under DDP: after the first fold the {processes} processes are "
                        "running, and none can find the next fold's rate alone; run each fold as its own job "
                        f"(--fold 0, --fold 1, ...){one_device}")


def started_by_launcher() -> bool:
    """True in a process that Lightning's DDP launcher started once the first process had reached ``fit``."""
    return os.environ.get("LOCAL_RANK", "0") != "0" and RUN_DIR_ENV in os.environ


def rate_found_before_launch(run_dir: Path) -> float:
    """The learning rate the first process found and wrote into ``config.yaml`` before it started this one."""
    rate = float(yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))["lr"])
    print(f"--lr-find: process {os.environ['LOCAL_RANK']} trains with {rate:.4g}, the rate the first process found",
          flush=True)
    return rate
