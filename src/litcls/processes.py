"""Which process this is in a distributed run, read from the environment the launchers set (no torch import).

Every part that writes files before training (the data index, the run folder, warnings printed once) asks here.
"""

from __future__ import annotations

import os

from lightning.fabric.utilities.rank_zero import rank_zero_only


def external_job_id() -> str | None:
    """The id shared by all processes of a torchrun or multi-task SLURM job, or None outside one."""
    run_id = os.environ.get("TORCHELASTIC_RUN_ID")
    if run_id is not None:
        return run_id if run_id != "none" else ""
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "SLURM_JOB_ID" in os.environ:
        return os.environ["SLURM_JOB_ID"]
    return None


def is_main_process() -> bool:
    """True in the one process that writes files before training starts (global rank zero)."""
    return rank_zero_only.rank == 0 and os.environ.get("NODE_RANK", "0") == "0"
