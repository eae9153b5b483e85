"""k-fold cross-validation: every fold a complete run in ``<run>/fold_<i>/``, then one aggregate over the folds.

The run folder::

    config.yaml, classes.json, splits.csv      splits.csv: split = test or pool, fold = validation fold
    fold_0/ ... fold_<K-1>/                    complete run folders; their best checkpoint on the fold's
                                               validation images: val_results.json, val_predictions.csv
    cv_results.json, cv_results.csv            every metric per fold, its mean and sample std (ddof=1)
    oof_predictions.csv                        each pool image predicted once, by the fold model that did
    oof_confusion_matrix.csv/.png              not train on it (the columns of predictions.csv); their
    oof_classification_report.csv              confusion matrix, per-class report and curves, by the runs'
    oof_roc.png, oof_pr.png                    writer; cv_results.json scores them with the metric table
    label_issues.csv, label_issues/            suspected label errors among them (cleanlab), thumbnails of the top
    ensemble.json                              the folds' ensemble: temperature (and threshold) fitted on the
                                               out-of-fold predictions, its test metrics (see runs/ensemble.py)
    ensemble_predictions.csv                   the ensemble's predictions of the test split
    report.html                                mean ± std, per-fold table, ensemble, out-of-fold evaluation

``--fold i --name NAME`` runs one fold into the same layout, for cluster array jobs; the job that finishes the
last fold writes the aggregate, and ``train.py --aggregate RUN_DIR`` writes it over whatever folds are finished.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pandas as pd
import yaml

from litcls.config import TrainConfig, load_yaml
from litcls.data.folds import POOL, assign_folds, fold_split
from litcls.data.groups import check_groups_disjoint
from litcls.data.samples import SampleTable
from litcls.data.scan import sort_by_path
from litcls.data.splits import test_rows, write_label_prevalence, write_splits
from litcls.errors import UserError
from litcls.evaluation.multilabel import score_label_predictions
from litcls.evaluation.predictions import (
    predicted_labels,
    prob_columns,
    probabilities_of,
    read_predictions,
    score_predictions,
)
from litcls.evaluation.writer import write_split_report
from litcls.files import write_atomically
from litcls.processes import is_main_process
from litcls.report.cv_page import write_cv_report
from litcls.runs.ensemble import add_ensemble_row, summary_rows, write_ensemble
from litcls.runs.fit import fit_and_evaluate
from litcls.runs.label_issues import write_label_issues
from litcls.runs.members import member_dir, print_members_summary, std_note, summarize_members
from litcls.runs.new_folder import claim_run_dir
from litcls.runs.samples import check_leakage, load_data
from litcls.shell import train_command
from litcls.tasks import MULTI_LABEL

STD = std_note("fold")
# settings that say where a fold job runs or logs, not what it computes: jobs of one run may differ in them.
# (--num-workers is not one: each loader worker draws its own augmentations.)
_JOB_SETTINGS = frozenset({"fold", "name", "out_dir", "accelerator", "logger", "wandb_project", "wandb_entity",
                           "wandb_mode", "tags", "group", "log_model", "progress"})


def fold_dir(run_dir: Path, fold: int) -> Path:
    return member_dir(run_dir, "fold", fold)


def kfold_samples(scan: SampleTable, folds: int, test_size: float, seed: int) -> pd.DataFrame:
    """The k-fold sample table (see :mod:`litcls.data.folds`).

    The test split is held out exactly as a single run with the same seed holds it out (a pre-split folder keeps
    its ``test/``), so k-fold and single-run test metrics are comparable; every other image joins the pool.
    """
    samples = sort_by_path(scan.samples)
    test = test_rows(samples, scan, test_size, seed)
    samples["split"] = POOL
    samples.loc[test, "split"] = "test"
    pool = samples[samples["split"] == POOL]
    samples["fold"] = assign_folds(pool, folds, seed, scan.classes).reindex(samples.index)
    return samples


def cross_validate(config: TrainConfig) -> Path:
    """Run every fold of ``--folds`` (or only ``--fold``), then aggregate once all are finished.

    Returns:
        The run folder that holds the fold folders.
    """
    config, scan, duplicates = load_data(config)
    samples = kfold_samples(scan, config.repeats.folds, config.data.test_size, config.data.seed)
    check_leakage(samples, duplicates)
    if config.repeats.fold is None:
        run_dir = claim_run_dir(config)
        if is_main_process():
            _write_run_files(config, scan, samples, run_dir)
        folds = list(range(config.repeats.folds))
    else:
        run_dir = _shared_run_dir(config, scan, samples)
        folds = [config.repeats.fold]
    for fold in folds:
        run_fold(config, scan, samples, fold, run_dir)
    if is_main_process():
        folds = config.repeats.folds
        left = [fold for fold in range(folds) if fold not in finished_folds(run_dir, folds)]
        if left:
            print(f"\nfold {config.repeats.fold} finished; still to run: {', '.join(map(str, left))}. The job that "
                  f"finishes the last fold writes cv_results.*; or run: {train_command('--aggregate', run_dir)}")
        else:
            aggregate(run_dir)
    return run_dir


def run_fold(config: TrainConfig, scan: SampleTable, samples: pd.DataFrame, fold: int, run_dir: Path,
             restart: bool = False) -> dict:
    """Train fold ``fold`` as a complete run in ``fold_<fold>/``; its validation predictions come with it.

    ``restart`` first deletes what a fold that stopped before its first checkpoint left in its folder
    (``--resume`` of the k-fold run); otherwise an existing fold folder is refused, never overwritten.
    """
    target = fold_dir(run_dir, fold)
    if is_main_process():  # the other processes of a DDP run write nothing and must not claim the folder
        if restart and target.exists():
            shutil.rmtree(target)
        try:
            target.mkdir()
        except FileExistsError:
            raise UserError(f"--fold {fold}: {target} exists already; delete it to run this fold again") from None
    table = fold_split(samples, fold)
    check_groups_disjoint(table)
    sizes = table["split"].value_counts()
    print(f"\nfold {fold} of {config.repeats.folds}: training on {sizes.get('train', 0)} images, selecting on "
          f"{sizes.get('val', 0)}, testing on {sizes.get('test', 0)}")
    fold_config = config.replace(fold=fold, name=run_dir.name, out_dir=str(run_dir.parent),
                                 group=config.output.group or run_dir.name)
    results = fit_and_evaluate(fold_config, scan, table, target, job_type=f"fold_{fold}")
    write_fold_results(target, results)
    return results


def write_fold_results(target: Path, results: dict) -> None:
    """``val_results.json``: the ``val/*`` metrics of the fold's best checkpoint on its validation images.

    The fold run evaluated them itself (``trainer.validate`` of the best checkpoint, the module's own metrics) and
    wrote their predictions, ``val_predictions.csv``, before its ``results.json``.
    """
    if results.get("best_checkpoint") and is_main_process():
        metrics = {key: value for key, value in sorted(results.items()) if key.startswith("val/")}
        (target / "val_results.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")




def finished_folds(run_dir: Path, folds: int) -> list[int]:
    """Folds whose run wrote ``val_predictions.csv`` and, last, ``results.json`` (no predictions in a fast dev
    run)."""
    finished = []
    for fold in range(folds):
        results = fold_dir(run_dir, fold) / "results.json"
        if results.is_file() and ((results.parent / "val_predictions.csv").is_file()
                                  or not json.loads(results.read_text(encoding="utf-8")).get("best_checkpoint")):
            finished.append(fold)
    return finished


def _write_run_files(config: TrainConfig, scan: SampleTable, samples: pd.DataFrame, run_dir: Path) -> None:
    """classes.json, splits.csv, then config.yaml: the last one marks the run folder as complete (each written
    atomically, so a fold job never reads a half-written file of another job)."""
    classes = json.dumps(scan.classes, ensure_ascii=False, indent=1)
    write_atomically(run_dir / "classes.json", lambda tmp: tmp.write_text(classes, encoding="utf-8"))
    write_atomically(run_dir / "splits.csv", lambda tmp: write_splits(samples, scan.classes, tmp))
    if scan.multi_label:
        write_atomically(run_dir / "label_prevalence.csv",
                         lambda tmp: write_label_prevalence(samples, scan.classes, tmp))
    write_atomically(run_dir / "config.yaml", config.replace(fold=None).save)


def _shared_run_dir(config: TrainConfig, scan: SampleTable, samples: pd.DataFrame) -> Path:
    """``<out-dir>/<name>`` for a ``--fold`` job: created by the first job, reused by the others if they agree."""
    run_dir = Path(config.output.out_dir) / config.output.name
    if not is_main_process():
        return run_dir
    if fold_dir(run_dir, config.repeats.fold).exists():
        raise UserError(f"--fold {config.repeats.fold}: {fold_dir(run_dir, config.repeats.fold)} exists already; "
                        "delete it to run this fold again")
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "config.yaml").is_file():
        _write_run_files(config, scan, samples, run_dir)
        return run_dir
    saved = load_yaml(run_dir / "config.yaml")
    ours = config.to_dict()
    differ = [f"{key}: {saved.get(key)!r} there, {ours[key]!r} here" for key in ours
              if key not in _JOB_SETTINGS and saved.get(key) != ours[key]]
    if differ:
        raise UserError(f"--fold {config.repeats.fold}: {run_dir} holds a run with other settings "
                        f"({'; '.join(differ)}); use the same settings for every fold, or another --name")
    columns = ["path", "label", "split", "fold"]
    there = pd.read_csv(run_dir / "splits.csv", dtype=str, keep_default_na=False)
    here = samples[columns].astype("string").fillna("")
    if list(there[columns].itertuples(index=False)) != list(here.itertuples(index=False)):
        raise UserError(f"--fold {config.repeats.fold}: the images in {scan.root} no longer match "
                        f"{run_dir / 'splits.csv'}; every fold of a run must see the same images")
    return run_dir


def aggregate(run_dir: str | Path) -> dict:
    """Combine the finished folds of ``run_dir`` into ``cv_results.json``/``.csv`` and the out-of-fold files.

    Returns:
        The content of ``cv_results.json``.
    """
    run_dir = Path(run_dir)
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        raise UserError(f"--aggregate: {config_file} not found; pass the run folder that holds fold_0, fold_1, ...")
    folds = int(yaml.safe_load(config_file.read_text(encoding="utf-8")).get("folds") or 0)
    if folds < 2:
        raise UserError(f"--aggregate: {run_dir} is not a cross-validation run (its config.yaml has folds: {folds})")
    finished = finished_folds(run_dir, folds)
    if not finished:
        raise UserError(f"--aggregate: no fold of {run_dir} has finished (no fold_<i>/results.json)")
    missing = [fold for fold in range(folds) if fold not in finished]
    if missing:
        warnings.warn(f"{run_dir}: fold(s) {', '.join(map(str, missing))} of {folds} have not finished; the "
                      f"aggregate covers fold(s) {', '.join(map(str, finished))} only", stacklevel=2)
    metrics = summarize_members(run_dir, "fold", finished, "cv_results", ("results.json", "val_results.json"))
    classes = json.loads((run_dir / "classes.json").read_text(encoding="utf-8"))
    oof = out_of_fold(run_dir, classes, finished, complete=not missing)
    single_label = bool(oof) and oof.get("task") != MULTI_LABEL  # the ensemble and cleanlab take one class per image
    ensemble = write_ensemble(run_dir, "fold", finished, classes) if single_label else None
    add_ensemble_row(run_dir, "cv_results", "fold", ensemble)
    results = {"folds": folds, "finished_folds": finished, "missing_folds": missing, "std": STD,
               "metrics": metrics, "out_of_fold": oof, "ensemble": ensemble}
    (run_dir / "cv_results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    suspects = write_label_issues(run_dir, classes) if single_label else None
    write_cv_report(run_dir)
    print_cv_summary(run_dir, results)
    if suspects is not None:
        print(f"label issues: {suspects} image(s) whose label the out-of-fold predictions doubt, most suspect first: "
              f"{run_dir / 'label_issues.csv'} (look at them; fix or drop the wrong ones, then train again)")
    return results


def out_of_fold(run_dir: Path, classes: list[str], folds: list[int], complete: bool) -> dict | None:
    """Pool the folds' validation predictions into ``oof_predictions.csv``, ``oof_confusion_matrix.csv``/``.png``
    and ``oof_classification_report.csv``.

    Each pool image must be predicted exactly once; with every fold finished, every pool image must be.

    Returns:
        The number of images and every metric of the metric table over the pooled predictions (``oof/acc``, ...),
        or None when no fold wrote predictions (fast dev runs).
    """
    files = [file for fold in folds if (file := fold_dir(run_dir, fold) / "val_predictions.csv").is_file()]
    if not files:
        return None
    multi = any(column.startswith("true_") for column in pd.read_csv(files[0], nrows=0).columns)  # per label
    frames = [pd.read_csv(file) if multi else read_fold_predictions(file, classes) for file in files]
    oof = pd.concat(frames, ignore_index=True).sort_values("path", ignore_index=True)
    twice = oof.loc[oof["path"].duplicated(), "path"].tolist()
    if twice:
        raise UserError(f"{run_dir}: images predicted by more than one fold: {', '.join(twice[:5])}; the fold "
                        "folders do not come from one split")
    if complete and len(frames) == len(folds):
        splits = pd.read_csv(run_dir / "splits.csv", keep_default_na=False, encoding="utf-8")
        pool = set(splits.loc[splits["split"] == POOL, "path"])
        if pool != set(oof["path"]):
            raise UserError(f"{run_dir}: the folds' validation predictions cover {len(oof)} images, the pool in "
                            f"splits.csv holds {len(pool)}; the fold folders do not come from one split")
    oof.to_csv(run_dir / "oof_predictions.csv", index=False, encoding="utf-8")
    if multi:  # each row called at its own fold's thresholds
        return {"images": len(oof), "task": MULTI_LABEL, **score_label_predictions(
            oof, classes, "oof/", report=run_dir / "oof_classification_report.csv")}
    write_split_report(run_dir, oof["label"].to_numpy(), predicted_labels(oof, classes), classes,
                       f"out-of-fold predictions of {len(folds)} fold(s)", prefix="oof_",
                       probabilities=probabilities_of(oof, classes), split="out-of-fold", curves=True)
    return {"images": len(oof), **score_predictions(oof, classes, prefix="oof/")}


def read_fold_predictions(file: Path, classes: list[str]) -> pd.DataFrame:
    """A fold's ``val_predictions.csv``, today's or an older litcls's (read into today's columns).

    Raises:
        UserError: the file lacks what the aggregate needs; says how to write it again.
    """
    table = read_predictions(file, classes)
    missing = [column for column in ("path", "label", "predicted", *prob_columns(classes)) if column not in table]
    if missing:
        raise UserError(f"--aggregate: {file} has no column(s) {', '.join(missing)} (not written by this version of "
                        "litcls for these classes); run the folds again under another name: "
                        + train_command("--config", file.parent.parent / "config.yaml", "--name", "NEW_NAME"))
    return table


def print_cv_summary(run_dir: Path, results: dict) -> None:
    """Print mean ± std of every metric, the out-of-fold scores and where the run folder is."""
    oof = results["out_of_fold"]
    if oof:
        shown = ("oof/auroc", "oof/f1_macro_at_thresholds") if oof.get("task") == MULTI_LABEL else \
            ("oof/acc", "oof/f1_macro")
        extra = [(name, f"{oof[name]:.4f} over {oof['images']} images, each predicted once") for name in shown]
    else:
        extra = [("out-of-fold", "none: no fold saved a checkpoint to predict with (fast dev run)")]
    extra += summary_rows(results.get("ensemble"), results["metrics"], "fold")
    title = (f"{results['folds']}-fold cross-validation: mean ± std over {len(results['finished_folds'])} fold(s), "
             f"{STD}")
    print_members_summary(run_dir, title, results["metrics"], "fold", extra=extra)
