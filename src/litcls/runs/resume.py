"""``--resume``: continue an interrupted run in its own folder, with its saved configuration and split.

What a run folder holds is enough: ``config.yaml`` (the settings), ``classes.json`` and ``splits.csv``
(the exact split, not recomputed, so no image can move between train and test), and
``checkpoints/last.ckpt`` (weights, optimizer, scheduler, early stopping, epoch and batch position, random
state). Settings that would make the run a different experiment are refused; only these may change:

* ``--epochs``: train longer or stop sooner. A schedule planned over the epochs (``cosine``, ``step``)
  cannot be stretched without raising the learning rate again, so extending is refused for those;
* ``--num-workers``, ``--accelerator``, ``--devices``, ``--strategy``, ``--num-nodes``: where and how fast
  the same computation runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from litcls.config import TrainConfig, load_yaml, resolve
from litcls.data.samples import MULTI_LABEL, SINGLE_LABEL, SampleTable, target_columns
from litcls.data.sources import DataSpec, image_root
from litcls.data.stream.location import is_stream
from litcls.data.stream.table import read_table
from litcls.errors import UserError
from litcls.processes import is_main_process
from litcls.runs.build import ResumeFrom
from litcls.runs.crossval import aggregate, finished_folds, fold_dir, run_fold, write_fold_results
from litcls.runs.fit import fit_and_evaluate
from litcls.runs.trainer import check_hardware
from litcls.shell import train_command
from litcls.suggest import did_you_mean_path

RESUMABLE_FLAGS = ("epochs", "num_workers", "accelerator", "devices", "strategy", "num_nodes", "progress")
EPOCH_PLANNED_SCHEDULERS = ("cosine", "step")


@dataclass(frozen=True)
class ResumePoint:
    """Where a checkpoint stands.

    Attributes:
        path: the checkpoint file.
        epochs_done: epochs completed, validation included.
        global_step: optimizer steps taken; the loggers keep what was logged before it.
        early_stopped: early stopping had ended the run.
    """

    path: Path
    epochs_done: int
    global_step: int
    early_stopped: bool


def locate(target: str) -> tuple[Path, Path]:
    """``RUN_DIR`` or ``RUN_DIR/checkpoints/NAME.ckpt`` -> (run folder, checkpoint file)."""
    path = Path(target)
    if path.is_file():
        run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
        checkpoint = path
    elif path.is_dir():
        run_dir, checkpoint = path, path / "checkpoints" / "last.ckpt"
    else:
        raise UserError(f"--resume: no such run folder or checkpoint: {path}{did_you_mean_path(path)}")
    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"--resume: {run_dir} is not a run folder (it has no config.yaml); pass the folder a run "
                        "wrote, e.g. runs/<name>, or a checkpoint inside its checkpoints/ folder")
    seeds = load_yaml(run_dir / "config.yaml").get("seeds")
    if not checkpoint.is_file() and seeds:
        stopped = next((seed for seed in seeds if not (run_dir / f"seed_{seed}" / "results.json").is_file()), seeds[0])
        raise UserError(f"--resume: {run_dir} is a --seeds run, which is not resumed as a whole: resume the seed "
                        f"that stopped ({train_command('--resume', run_dir / f'seed_{stopped}')}), then "
                        f"{train_command('--aggregate', run_dir)} combines the finished seeds")
    if not checkpoint.is_file():
        raise UserError(f"--resume: {run_dir} has no checkpoints/last.ckpt: the run stopped before its first "
                        f"checkpoint. Start it again with: {train_command('--config', run_dir / 'config.yaml')}")
    return run_dir, checkpoint


def read_resume_point(checkpoint: Path) -> ResumePoint:
    """Read the loop counters of a Lightning checkpoint without loading its tensors into memory."""
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
        fit_loop = state["loops"]["fit_loop"]
        epoch_finished = fit_loop["epoch_loop.batch_progress"]["is_last_batch"]
        early_stopping = [value for key, value in state.get("callbacks", {}).items() if key.startswith("EarlyStopping")]
    except Exception as err:  # a truncated file, a file that is no Lightning checkpoint
        raise UserError(f"--resume: cannot read {checkpoint} ({type(err).__name__}: {err}); it may be incomplete. "
                        "If the run has another checkpoint (checkpoints/best.ckpt), pass that file to --resume "
                        "to continue from it") from None
    return ResumePoint(
        path=checkpoint,
        epochs_done=state["epoch"] + 1 if epoch_finished else state["epoch"],
        global_step=int(state["global_step"]),
        early_stopped=any(stopper.get("stopped_epoch", 0) > 0 for stopper in early_stopping),
    )


def resume_config(run_dir: Path, flag_values: dict[str, Any], point: ResumePoint) -> TrainConfig:
    """The run's saved config, with the flags that may change on resume applied; others are refused."""
    saved = resolve(load_yaml(run_dir / "config.yaml"), {})
    wanted = resolve(load_yaml(run_dir / "config.yaml"), flag_values)
    wanted_values, saved_values = wanted.to_dict(), saved.to_dict()
    changed = [name for name in flag_values if wanted_values[name] != saved_values[name]]
    refused = [name for name in changed if name not in RESUMABLE_FLAGS]
    if refused:
        flags = ", ".join(f"--{_flag(name)} {wanted_values[name]} (the run has {saved_values[name]})"
                          for name in refused)
        raise UserError(
            f"--resume continues {run_dir} with its saved settings; {flags} would make it another experiment. "
            f"With --resume only {', '.join('--' + _flag(name) for name in RESUMABLE_FLAGS)} may change. To try "
            "other settings, start a new run: " + train_command(
                "--config", run_dir / "config.yaml",
                *(word for name in refused for word in (f"--{_flag(name)}", wanted_values[name]))))
    epochs, saved_epochs = wanted.recipe.max_epochs, saved.recipe.max_epochs
    if epochs <= point.epochs_done and epochs != saved_epochs:
        raise UserError(f"--epochs {epochs}: {run_dir} has already trained {point.epochs_done} epochs; "
                        f"give more than {point.epochs_done}")
    if epochs > saved_epochs and saved.recipe.scheduler in EPOCH_PLANNED_SCHEDULERS:
        raise UserError(f"--epochs {epochs}: the {saved.recipe.scheduler} learning-rate schedule of {run_dir} is "
                        f"planned over {saved_epochs} epochs and cannot be stretched without raising the learning "
                        "rate again. Resume without --epochs, or start a new run with more epochs")
    return wanted


def check_not_finished(run_dir: Path, config: TrainConfig, point: ResumePoint) -> None:
    """A finished run (results written) has nothing to resume unless it may now train longer."""
    if not (run_dir / "results.json").is_file():
        return
    if point.early_stopped:
        raise UserError(f"--resume: {run_dir} is finished: early stopping ended it after {point.epochs_done} "
                        f"epochs, when {config.evaluation.monitor} had not improved for {config.recipe.patience} "
                        "epochs; training longer would stop again. Start a new run to change the settings")
    if point.epochs_done >= config.recipe.max_epochs:
        raise UserError(f"--resume: {run_dir} is finished ({point.epochs_done} of {config.recipe.max_epochs} epochs, "
                        "results.json written); nothing to resume. --epochs N continues it for more epochs if its "
                        "--scheduler is none or plateau")


def load_split(run_dir: Path, config: TrainConfig) -> tuple[SampleTable, pd.DataFrame]:
    """The run's classes and split from ``classes.json`` and ``splits.csv``; every listed image must still exist."""
    if is_stream(config.data.source):
        return _stream_split(run_dir, config.data.source)
    root = image_root(DataSpec.of(config.data))
    if not root.is_dir():
        raise UserError(f"--resume: the run's image folder {root} is not found from {Path.cwd()}; run train.py from "
                        "the folder you started the run in (the path is relative to it)")
    classes, samples = _read_split(run_dir)
    missing = [path for path in samples["path"] if not (root / path).is_file()]
    if missing:
        listed = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise UserError(f"--resume: {len(missing)} images of the run's split are gone from {root}: {listed}. "
                        "Restore them to continue this run, or start a new one")
    return SampleTable(root=root, classes=classes, samples=samples, task=_task_of(classes, samples)), samples


def _task_of(classes: list[str], samples: pd.DataFrame) -> str:
    """A split with target columns is a multi-label run's."""
    return MULTI_LABEL if any(column in samples for column in target_columns(classes)) else SINGLE_LABEL


def _read_split(run_dir: Path) -> tuple[list[str], pd.DataFrame]:
    classes = json.loads((run_dir / "classes.json").read_text(encoding="utf-8"))
    samples = pd.read_csv(run_dir / "splits.csv", encoding="utf-8", keep_default_na=False, dtype=str).drop(
        columns="class")
    samples["label"] = samples["label"].astype("int64")
    for column in target_columns(classes):  # a multi-label run's targets: 1, 0, blank where ignored
        if column in samples:
            samples[column] = pd.to_numeric(samples[column].mask(samples[column] == "")).astype("float64")
    if "fold" in samples:
        samples["fold"] = pd.to_numeric(samples["fold"].mask(samples["fold"] == "")).astype("Int64")
    return classes, samples


def _stream_split(run_dir: Path, location: str) -> tuple[SampleTable, pd.DataFrame]:
    """A run on a stream: its split, every image of which must still be in the stream."""
    classes, samples = _read_split(run_dir)
    stored = set(read_table(location).table.samples["path"])
    missing = [path for path in samples["path"] if path not in stored]
    if missing:
        raise UserError(f"--resume: {len(missing)} images of the run's split are not in the stream {location}, e.g. "
                        f"{', '.join(missing[:3])}; resume from the stream the run started on")
    return SampleTable(root=Path(location), classes=classes, samples=samples, task=_task_of(classes, samples),
                       stream=location), samples


def prepare_resume(target: str, flag_values: dict[str, Any]) -> tuple[Path, ResumePoint, TrainConfig]:
    """Find the run and checkpoint, and the config the resumed run uses; refuse what cannot be resumed."""
    run_dir, checkpoint = locate(target)
    point = read_resume_point(checkpoint)
    config = resume_config(run_dir, flag_values, point)
    check_not_finished(run_dir, config, point)
    return run_dir, point, config


def cross_validation_run(target: str) -> Path | None:
    """The folder of a k-fold run (the parent of ``fold_<i>/``) when ``target`` is one, else None."""
    path = Path(target)
    if not (path / "config.yaml").is_file() or (path / "checkpoints").exists():
        return None
    return path if int(load_yaml(path / "config.yaml").get("folds") or 0) else None


def cross_validation_config(run_dir: Path, flag_values: dict[str, Any]) -> TrainConfig:
    """A k-fold run's saved config; only the flags that say where it runs may change (every fold must be the
    same experiment, so not even ``--epochs``)."""
    no_epochs = ResumePoint(path=run_dir, epochs_done=0, global_step=0, early_stopped=False)
    if "epochs" in flag_values and flag_values["epochs"] != load_yaml(run_dir / "config.yaml").get("epochs"):
        raise UserError(f"--resume {run_dir}: the folds of a cross-validation run train for the same number of "
                        "epochs; resume without --epochs")
    return resume_config(run_dir, flag_values, no_epochs)


def resume(target: str, flag_values: dict[str, Any]) -> Path:
    """Continue the run at ``target`` (a run folder, a checkpoint in it, or a k-fold run folder); return the
    run folder."""
    if cross_validation_run(target):
        return resume_cross_validation(Path(target), flag_values)
    run_dir, config = _resume_one(target, flag_values)
    if config.repeats.fold is not None and is_main_process():  # the last fold of a k-fold run to finish aggregates
        if len(finished_folds(run_dir.parent, config.repeats.folds)) == config.repeats.folds:
            aggregate(run_dir.parent)
    return run_dir


def _resume_one(target: str, flag_values: dict[str, Any]) -> tuple[Path, TrainConfig]:
    """Continue one run (a fold too, which then writes its validation predictions); return its folder and config."""
    run_dir, point, config = prepare_resume(target, flag_values)
    check_hardware(config)
    scan, samples = load_split(run_dir, config)
    print(f"resuming {run_dir} from {point.path.name}: {point.epochs_done} of {config.recipe.max_epochs} epochs done")
    job_type = None if config.repeats.fold is None else f"fold_{config.repeats.fold}"
    results = fit_and_evaluate(config, scan, samples, run_dir, ResumeFrom.read(point.path, point.global_step, config),
                               job_type)
    if config.repeats.fold is not None:
        write_fold_results(run_dir, results)
    return run_dir, config


def resume_cross_validation(run_dir: Path, flag_values: dict[str, Any]) -> Path:
    """Finish a k-fold run as one run: each unfinished fold continues from its checkpoint (or, when it stopped
    before its first one, starts over), folds that never started run, then the aggregate is written."""
    config = cross_validation_config(run_dir, flag_values)
    check_hardware(config)
    finished = finished_folds(run_dir, config.repeats.folds)
    if len(finished) == config.repeats.folds and (run_dir / "cv_results.json").is_file():
        raise UserError(f"--resume: {run_dir} is finished (every fold and cv_results.json written); nothing to "
                        "resume")
    scan, samples = load_split(run_dir, config)
    left = [fold for fold in range(config.repeats.folds) if fold not in finished]
    print(f"resuming the {config.repeats.folds}-fold run {run_dir}: fold(s) {', '.join(map(str, left)) or 'none'} "
          "to finish")
    for fold in left:
        target = fold_dir(run_dir, fold)
        if (target / "checkpoints" / "last.ckpt").is_file():
            _resume_one(str(target), flag_values)
        else:  # never started, or stopped before its first checkpoint: nothing in it is worth keeping
            run_fold(config, scan, samples, fold, run_dir, restart=True)
    if is_main_process():
        aggregate(run_dir)
    return run_dir


def _flag(name: str) -> str:
    return name.replace("_", "-")
