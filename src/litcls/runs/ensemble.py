"""The ensemble of a k-fold or seeds run: its decision fitted on held-out rows, written as ``ensemble.json`` (where
``predict.py`` and ``demo.py`` find it), and its evaluation on the held-out test split (``ensemble_predictions.csv``).

Everything comes from the predictions the members wrote, so aggregating runs no model:

* the fit rows (:func:`fit_rows`): in a k-fold run, each pool image predicted by the fold model that did not train
  on it (the out-of-fold predictions: one member's probability per row, the only held-out prediction the run
  has); in a seeds run on one shared split, the validation images, which no seed trained on, predicted by every
  seed and averaged (the ensemble itself); with ``--resplit-per-seed``, each seed's own validation images
  predicted by that seed. Test rows are refused (:func:`check_no_test_rows`).
* the test rows (:func:`test_predictions`): the images in every member's test split, their probabilities averaged.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from litcls.evaluation.calibration import expected_calibration_error, nll
from litcls.evaluation.ensemble_calibration import ensemble_logits, fit_ensemble_decision, mean_probabilities
from litcls.evaluation.predictions import prediction_table, prob_columns, read_predictions, score_predictions
from litcls.evaluation.threshold import called_at_threshold, point_metrics, positive_label
from litcls.files import json_number

ENSEMBLE_FILE = "ensemble.json"
PREDICTIONS_FILE = "ensemble_predictions.csv"
COMBINE = ("the mean of the members' own softmax probabilities (equal weights); calibrated: softmax(log(mean) / "
           "temperature)")


def split_paths(folder: Path, split: str) -> set[str]:
    """The paths of one split in a member's ``splits.csv``."""
    splits = pd.read_csv(folder / "splits.csv", usecols=["path", "split"], dtype=str, keep_default_na=False)
    return set(splits.loc[splits["split"] == split, "path"])


def test_paths(folders: list[Path]) -> set[str]:
    """The images every member held out as test: none of them trained or selected on any."""
    return set.intersection(*(split_paths(folder, "test") for folder in folders))


def _probabilities(table: pd.DataFrame, classes: list[str]) -> np.ndarray:
    return table[prob_columns(classes)].to_numpy(dtype=np.float64)


def fit_rows(folders: list[Path], classes: list[str]) -> tuple[pd.DataFrame, str]:
    """The held-out rows the decision is fitted on (``path``, ``label``, ``prob_<class>``) and what they are."""
    tables = [read_predictions(folder / "val_predictions.csv", classes) for folder in folders]
    same = all(list(table["path"]) == list(tables[0]["path"]) for table in tables)
    if same and len(folders) > 1:  # seeds on one split: the validation images are held out from every member
        rows = tables[0][["path", "label"]].copy()
        rows[prob_columns(classes)] = mean_probabilities([_probabilities(table, classes) for table in tables])
        return rows, (f"the validation images of the shared split, which no member trained on, predicted by every "
                      f"member ({len(rows)} images)")
    rows = pd.concat([table[["path", "label", *prob_columns(classes)]] for table in tables], ignore_index=True)
    return rows, (f"out-of-fold: each member's validation images predicted by that member only, which did not "
                  f"train on them ({len(rows)} images)")


def check_no_test_rows(rows: pd.DataFrame, test: set[str]) -> None:
    """The fit never sees a test image: raise if one is among ``rows``."""
    leaked = sorted(set(rows["path"]) & test)
    if leaked:
        raise ValueError(f"test images among the rows the ensemble is fitted on: {', '.join(leaked[:5])}")


def test_predictions(folders: list[Path], classes: list[str], test: set[str]) -> pd.DataFrame | None:
    """(path, label, mean probabilities) of the test images, in path order; None without any."""
    if not test:
        return None
    tables = []
    for folder in folders:
        table = read_predictions(folder / "predictions.csv", classes)
        tables.append(table[table["path"].isin(test)].sort_values("path", ignore_index=True))
    if any(list(table["path"]) != list(tables[0]["path"]) for table in tables) or len(tables[0]) != len(test):
        return None  # a member evaluated another split (an older run): no common test predictions
    rows = tables[0][["path", "label"]].copy()
    rows[prob_columns(classes)] = mean_probabilities([_probabilities(table, classes) for table in tables])
    return rows


def evaluate_test(rows: pd.DataFrame, classes: list[str], decision: dict) -> tuple[pd.DataFrame, dict]:
    """The ensemble's predictions table on the test rows (calibrated probabilities) and its ``test/*`` metrics,
    named as a member's: ``test/ece`` and ``test/nll`` of the uncalibrated mean, ``*_calibrated`` after T."""
    uncalibrated = _probabilities(rows, classes)
    logits = ensemble_logits(uncalibrated)
    labels = rows["label"].to_numpy(dtype=np.int64)
    temperature = decision["temperature"]
    metrics = score_predictions(rows, classes, prefix="test/")  # the metric table, on the uncalibrated mean
    table = prediction_table(rows[["path", "label"]], logits, classes, temperature)
    metrics |= {"test/ece_calibrated": expected_calibration_error(_probabilities(table, classes), labels),
                "test/nll": nll(logits, labels), "test/nll_calibrated": nll(logits, labels, temperature)}
    if "threshold" in decision:
        positive = classes.index(decision["positive_class"])
        probabilities = _probabilities(table, classes)
        scores = probabilities[:, positive]
        table["predicted_at_threshold"] = called_at_threshold(scores, decision["threshold_calibrated"], classes,
                                                              positive)
        metrics |= {f"test/{name}": value for name, value in
                    point_metrics(scores, labels == positive, decision["threshold_calibrated"]).items()}
    return table, {key: json_number(float(value)) for key, value in metrics.items()}


def write_ensemble(run_dir: Path, noun: str, members: list[int], classes: list[str]) -> dict | None:
    """Fit the ensemble of ``<noun>_<n>/`` for n in ``members``, write ``ensemble.json`` (and
    ``ensemble_predictions.csv`` with a test split); return what the results file reports of it (None when a
    member wrote no predictions, fast dev runs, or the members are multi-label)."""
    folders = [run_dir / f"{noun}_{number}" for number in members]
    if not all((folder / "val_predictions.csv").is_file() and (folder / "splits.csv").is_file()
               for folder in folders):
        return None
    if any(column.startswith("true_") for column in pd.read_csv(folders[0] / "val_predictions.csv", nrows=0)):
        return None  # multi-label members (a truth column per label): their ensemble is not fitted yet
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    positive = positive_label(config.get("positive_class"), config.get("threshold_rule"), classes)
    test = test_paths(folders)
    rows, fitted_on = fit_rows(folders, classes)
    check_no_test_rows(rows, test)
    decision = fit_ensemble_decision(_probabilities(rows, classes), rows["label"].to_numpy(), classes, positive,
                                     config.get("threshold_rule"))
    ensemble = {"members": [folder.name for folder in folders], "class_names": classes, "combine": COMBINE,
                "fitted_on": fitted_on, **decision}
    (run_dir / PREDICTIONS_FILE).unlink(missing_ok=True)
    held_out = test_predictions(folders, classes, test)
    if held_out is not None:
        table, metrics = evaluate_test(held_out, classes, decision)
        table.to_csv(run_dir / PREDICTIONS_FILE, index=False, encoding="utf-8")
        ensemble["test"] = {"images": len(table), **metrics}
    else:
        ensemble["test"] = None
        ensemble["test_note"] = "no image is in every member's test split: the ensemble has no held-out test"
    (run_dir / ENSEMBLE_FILE).write_text(json.dumps(ensemble, indent=2, ensure_ascii=False), encoding="utf-8")
    return ensemble


def add_ensemble_row(run_dir: Path, stem: str, noun: str, ensemble: dict | None) -> None:
    """Append the ensemble's test metrics to ``<stem>.csv`` as a row named ``ensemble`` (beside mean and std)."""
    if not ensemble or not ensemble.get("test"):
        return
    frame = pd.read_csv(run_dir / f"{stem}.csv", dtype={noun: str})
    row = {noun: "ensemble", **{key: value for key, value in ensemble["test"].items() if key in frame.columns}}
    pd.concat([frame, pd.DataFrame([row])], ignore_index=True).to_csv(run_dir / f"{stem}.csv", index=False,
                                                                       encoding="utf-8")


def summary_rows(ensemble: dict | None, metrics: dict, noun: str) -> list[tuple[str, str]]:
    """The printed summary's lines of the ensemble: its test accuracy and macro F1 beside the members' mean."""
    if not ensemble or not ensemble.get("test"):
        return []
    rows = []
    for name in ("test/acc", "test/f1_macro", "test/nll_calibrated"):
        if ensemble["test"].get(name) is not None:
            mean = (metrics.get(name) or {}).get("mean")
            beside = f" (mean of the {noun}s {mean:.4f})" if mean is not None else ""
            rows.append((f"ensemble {name}", f"{ensemble['test'][name]:.4f}{beside}"))
    rows.append(("ensemble temperature", f"{ensemble['temperature']:.3f}, fitted on {ensemble['fit_images']} "
                                         "held-out images (ensemble.json)"))
    return rows
