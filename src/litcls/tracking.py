"""Experiment loggers chosen by ``--logger``; all write inside the run folder."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger

from litcls.config import TrainConfig


def build_loggers(config: TrainConfig, run_dir: Path) -> list[Logger]:
    """``csv`` -> ``run_dir/logs/metrics.csv`` (every logged step); ``tensorboard`` -> ``run_dir/tensorboard``."""
    loggers: list[Logger] = []
    if "csv" in config.logger:
        loggers.append(CSVLogger(save_dir=run_dir, name="logs", version=""))
    if "tensorboard" in config.logger:
        loggers.append(TensorBoardLogger(save_dir=run_dir, name="tensorboard", version=""))
    for logger in loggers:
        logger.log_hyperparams(config.to_dict())
    return loggers
