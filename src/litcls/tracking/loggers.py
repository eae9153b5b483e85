"""Experiment loggers chosen by ``--logger``, all writing inside the run folder.

A tracker must never be the reason a run dies: W&B falls back to offline mode when it cannot start online,
and is dropped with a warning when it cannot start at all.
"""

from __future__ import annotations

import inspect
import netrc
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger

from litcls.config import TrainConfig
from litcls.evaluation.metrics import monitors
from litcls.plugins import import_plugin, instantiate, is_import_path
from litcls.processes import is_main_process
from litcls.shell import Glob, command
from litcls.tracking.csv_logger import RunCSVLogger


def _tensorboard(config: TrainConfig, run_dir: Path, resume_step: int | None, job_type: str | None) -> Logger:
    # purge_step: TensorBoard hides the events an earlier session wrote from that step on
    return TensorBoardLogger(save_dir=run_dir, name="tensorboard", version="", purge_step=resume_step)


def _wandb(config: TrainConfig, run_dir: Path, resume_step: int | None, job_type: str | None) -> Logger | None:
    return start_wandb(config, run_dir, job_type, resume=resume_step is not None)


# --logger's built-in names -> a builder (config, run_dir, resume_step, job_type); with ``none`` (no logger), the
# names litcls.config.output.LOGGERS offers
BUILTIN_LOGGERS: dict[str, Callable[[TrainConfig, Path, int | None, str | None], Logger | None]] = {
    "csv": lambda config, run_dir, resume_step, job_type: RunCSVLogger(run_dir, resume_step or 0),
    "tensorboard": _tensorboard,
    "wandb": _wandb,
}
LOGGER_BASE = "lightning.pytorch.loggers.Logger"


def check_loggers(specs: list[str]) -> None:
    """Import the loggers given by import path and check each is a Lightning Logger class, before any training."""
    for spec in filter(is_import_path, specs):
        import_plugin(spec, "--logger", Logger, LOGGER_BASE)


def user_logger(spec: str, run_dir: Path) -> Logger:
    """``--logger pkg.module:Class[:{"arg": 1}]``, given ``save_dir=run_dir`` when its constructor takes one."""
    target, kwargs = import_plugin(spec, "--logger", Logger, LOGGER_BASE)
    if "save_dir" in inspect.signature(target).parameters:
        kwargs = {"save_dir": str(run_dir), **kwargs}
    return instantiate(spec, "--logger", target, kwargs)


def build_loggers(config: TrainConfig, run_dir: Path, resume_step: int | None = None,
                  job_type: str | None = None) -> list[Logger]:
    """``csv`` -> ``run_dir/logs/metrics.csv`` (every logged step); ``tensorboard`` -> ``run_dir/tensorboard``;
    ``wandb`` -> a W&B run whose local files live in ``run_dir/wandb``; ``pkg.module:Class`` -> that Logger
    (see :func:`user_logger`).

    Args:
        config: the run configuration (``logger`` and the ``wandb_*`` settings).
        run_dir: the run folder.
        resume_step: the global step of the checkpoint a resumed run starts from: the files continue, and the
            W&B run found in ``run_dir/wandb`` is resumed.
        job_type: W&B job type, e.g. ``fold_2`` for one fold of a k-fold run.
    """
    built = [build(config, run_dir, resume_step, job_type)
             for name, build in BUILTIN_LOGGERS.items() if name in config.output.logger]
    loggers = [logger for logger in built if logger is not None]  # W&B is dropped when it cannot start at all
    loggers += [user_logger(spec, run_dir) for spec in config.output.logger if is_import_path(spec)]
    for logger in loggers:
        logger.log_hyperparams(config.to_dict())
    return loggers


def _logged_in_to_wandb() -> bool:
    """True when an API key is available without asking: ``WANDB_API_KEY`` or a netrc entry for the host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def wandb_mode(config: TrainConfig) -> str:
    """``--wandb-mode`` if given, else ``$WANDB_MODE`` if set, else online when logged in, else offline."""
    if config.output.wandb_mode != "auto":
        return config.output.wandb_mode
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    return "online" if _logged_in_to_wandb() else "offline"


def previous_wandb_id(run_dir: Path) -> str | None:
    """The id of the latest W&B run logged in ``run_dir/wandb`` (``run-<date>_<time>-<id>`` folders)."""
    runs = sorted((run_dir / "wandb").glob("*run-*-*"), key=lambda path: path.name.split("run-", 1)[1])
    return runs[-1].name.rsplit("-", 1)[1] if runs else None


def _wandb_logger(config: TrainConfig, run_dir: Path, job_type: str | None, mode: str,
                  resume: bool = False) -> WandbLogger:
    run_id = previous_wandb_id(run_dir) if resume else None
    logger = WandbLogger(
        name=run_dir.name if job_type is None else f"{run_dir.parent.name}/{run_dir.name}",
        save_dir=str(run_dir), project=config.output.wandb_project, entity=config.output.wandb_entity,
        tags=config.output.tags or None, group=config.output.group, job_type=job_type, mode=mode,
        log_model=config.output.log_model and mode != "disabled",
        **({"id": run_id, "resume": "allow"} if run_id else {}),
    )
    experiment = logger.experiment  # start now, so a failure is handled here and not mid-training
    # the best epoch of every val metric (min or max, from the metric table), so sweeps compare best, not last
    for metric, summary in monitors().items():
        if hasattr(experiment, "define_metric"):
            experiment.define_metric(metric, summary=summary)
    return logger


def sync_command(run_dir: Path) -> str:
    """The command that uploads the offline W&B runs of ``run_dir``."""
    return command("wandb", "sync", Glob(run_dir / "wandb", "offline-run-*"))


def start_wandb(config: TrainConfig, run_dir: Path, job_type: str | None = None,
                resume: bool = False) -> WandbLogger | None:
    """Start (or, with ``resume``, continue) a W&B run; on failure retry offline, and give up with a warning
    rather than fail the run."""
    mode = wandb_mode(config)
    if (mode == "offline" and config.output.wandb_mode == "auto" and not os.environ.get("WANDB_MODE")
            and is_main_process()):
        print(f"W&B: not logged in, so logging offline to {run_dir / 'wandb'}; upload it later with "
              f"`{sync_command(run_dir)}` (or run `wandb login` first next time)")
    try:
        return _wandb_logger(config, run_dir, job_type, mode, resume)
    except Exception as err:  # wandb raises many types: network, auth, config
        reason = " ".join(str(err).split())[:300]
        if mode == "offline":
            warnings.warn(f"W&B could not start ({reason}); continuing without W&B", stacklevel=2)
            return None
        warnings.warn(f"W&B could not start {mode} ({reason}); continuing offline: upload later with "
                      f"`{sync_command(run_dir)}`", stacklevel=2)
        _finish_wandb(exit_code=1)
        try:
            return _wandb_logger(config, run_dir, job_type, "offline", resume)
        except Exception as err2:
            warnings.warn(f"W&B could not start offline either ({' '.join(str(err2).split())[:300]}); "
                          "continuing without W&B", stacklevel=2)
            return None


def log_results(loggers: list[Logger], results: dict) -> None:
    """Put the final metrics in each tracker's run summary; the val metrics keep their best-epoch summary."""
    kept = monitors()
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.summary.update({key: value for key, value in results.items() if key not in kept})


def _finish_wandb(exit_code: int) -> None:
    import wandb

    if wandb.run is not None:
        wandb.finish(exit_code=exit_code)


def finish_loggers(loggers: list[Logger], failed: bool) -> None:
    """Close tracker runs, also when training failed, so none is left running or marked as crashed."""
    if any(isinstance(logger, WandbLogger) for logger in loggers):
        _finish_wandb(exit_code=1 if failed else 0)


def log_image(loggers: list[Logger], tag: str, image: np.ndarray, step: int) -> None:
    """Send one RGB image (H, W, 3) uint8 to every logger that takes images; the others (CSV) skip it.

    One branch per logger type: a new image-taking logger adds its own branch here.
    """
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(tag, image, global_step=step, dataformats="HWC")
        elif isinstance(logger, WandbLogger):
            logger.log_image(key=tag, images=[image], step=step)


def log_evaluation_tables(loggers: list[Logger], split: str, counts: np.ndarray, class_names: list[str],
                          report: pd.DataFrame) -> None:
    """W&B only: the interactive confusion-matrix chart and the per-class report as a table."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            import wandb

            true, predicted = np.nonzero(counts)
            repeats = counts[true, predicted]
            chart = wandb.plot.confusion_matrix(y_true=np.repeat(true, repeats).tolist(),
                                                preds=np.repeat(predicted, repeats).tolist(),
                                                class_names=list(class_names), title=f"{split} confusion matrix")
            logger.experiment.log({f"{split}/confusion_matrix_chart": chart,
                                   f"{split}/classification_report": wandb.Table(dataframe=report)})


WANDB_TABLE_ROWS = 2000  # predictions shown in W&B: mistakes first, then the rest in file order


def log_predictions(loggers: list[Logger], split: str, table: pd.DataFrame, labels: np.ndarray,
                    probabilities: np.ndarray, class_names: list[str]) -> None:
    """W&B only: the evaluated split's ROC and precision-recall charts (one curve per class, one-vs-rest) and its
    predictions table, at most ``WANDB_TABLE_ROWS`` rows (the full table is ``predictions.csv``)."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            import wandb

            correct = table["correct"].astype(bool)
            shown = pd.concat([table[~correct], table[correct]]).head(WANDB_TABLE_ROWS)
            names = list(class_names)
            logger.experiment.log({
                f"{split}/roc_curve": wandb.plot.roc_curve(labels.tolist(), probabilities.tolist(), labels=names,
                                                           title=f"{split} ROC (one-vs-rest)"),
                f"{split}/pr_curve": wandb.plot.pr_curve(labels.tolist(), probabilities.tolist(), labels=names,
                                                         title=f"{split} precision-recall (one-vs-rest)"),
                f"{split}/predictions": wandb.Table(dataframe=shown.reset_index(drop=True)),
            })
