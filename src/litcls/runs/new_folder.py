"""Naming and claiming the run folder once, shared by every process of a distributed run.

* A single process, or the launching process of Lightning's DDP: a new folder is created exclusively
  (a taken name gets a ``-1``, ``-2`` suffix) and its path is put in ``$LITCLS_RUN_DIR``, which the worker
  processes that Lightning starts inherit and reuse.
* Processes started all at once by torchrun or SLURM: every rank derives the same name from ``--name`` or the
  job id, and the folder is created if missing.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from litcls.config import TrainConfig
from litcls.errors import UserError
from litcls.processes import external_job_id

RUN_DIR_ENV = "LITCLS_RUN_DIR"


def default_name(config: TrainConfig) -> str:
    return f"{_data_name(config.data.source)}-{config.model.name}-{datetime.now():%Y%m%d-%H%M%S}"


def create_run_dir(out_dir: Path, base: str) -> Path:
    """Create ``out_dir/base`` exclusively; a taken name gets a numeric suffix instead of being overwritten."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        run_dir = out_dir / (base if attempt == 0 else f"{base}-{attempt}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise UserError(f"--name: {out_dir} already holds 1000 runs named {base}; choose another --name")


def claim_run_dir(config: TrainConfig) -> Path:
    """Return this run's folder, the same one in every process of the run."""
    name = config.output.name
    if name is not None and (Path(name).name != name or name in (".", "..")):
        raise UserError(f"--name: {config.output.name!r} must be a folder name, without '/'; use --out-dir to choose "
                        "where runs go")
    out_dir = Path(config.output.out_dir)
    inherited = os.environ.get(RUN_DIR_ENV)
    if inherited and os.environ.get("LOCAL_RANK", "0") != "0":
        return Path(inherited)  # a worker started by Lightning's DDP launcher
    job_id = external_job_id()
    if job_id is not None:
        if not config.output.name and not job_id:
            raise UserError("--name is required under torchrun without --rdzv-id: every process must "
                            "agree on the run folder")
        run_dir = out_dir / (config.output.name or f"{_data_name(config.data.source)}-{config.model.name}-{job_id}")
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir
    try:
        run_dir = create_run_dir(out_dir, config.output.name or default_name(config))
    except OSError as err:  # read-only disk, no permission, a file where the folder should be
        raise UserError(f"--out-dir: cannot create a run folder in {out_dir} ({err.strerror or err}); "
                        "choose a writable folder with --out-dir") from None
    os.environ[RUN_DIR_ENV] = str(run_dir.resolve())
    return run_dir


def _data_name(data: str) -> str:
    """``data/pets`` -> ``pets``; a manifest ``ham/labels.csv`` -> ``labels``."""
    path = Path(data)
    return path.stem if path.suffix.lower() in (".csv", ".tsv") else path.name
