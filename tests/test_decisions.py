"""Decisions end to end on real image folders: an imbalanced two-class run whose results.json predictions.csv
reproduces, the threshold and temperature stored for predict.py, the new flags through the CLI, bad input."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import recall_score, roc_auc_score

from conftest import make_class_folder, run_cli, run_main, write_images
from litcls.cli.train import main
from litcls.config import TrainConfig
from litcls.evaluation.threshold import choose_threshold, parse_rule
from litcls.runs.dispatch import train

TINY = ["--model", "linear", "--img-size", "8", "--batch-size", "16", "--num-workers", "0", "--epochs", "2",
        "--val-size", "0.25", "--test-size", "0.25", "--logger", "none"]


def two_class_folder(root):
    """About 1:3, and the classes overlap (close colours, strong noise): the model makes mistakes."""
    write_images(root / "benign", 48, (120, 120, 120), size=8, seed=0)
    write_images(root / "malignant", 16, (150, 112, 112), size=8, seed=1)
    return root


@pytest.fixture(scope="module")
def two_class_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("decisions")
    config = TrainConfig.of(data=str(two_class_folder(tmp_path / "lesions")), model="linear", img_size=8, batch_size=16,
                            epochs=3, num_workers=0, val_size=0.25, test_size=0.25, logger=["none"], bootstrap=200,
                            out_dir=str(tmp_path / "runs"), name="two")
    return train(config.validate())


def read(path):
    return pd.read_csv(path, dtype={"class": str, "predicted": str, "predicted_at_threshold": str},
                       keep_default_na=False)


def test_predictions_csv_reproduces_results_json(two_class_run):
    run = two_class_run
    results = json.loads((run / "results.json").read_text())
    splits = pd.read_csv(run / "splits.csv")
    predictions = read(run / "predictions.csv")
    assert list(predictions["path"]) == list(splits.loc[splits["split"] == "test", "path"])  # one row per image
    assert list(predictions.columns) == ["path", "label", "class", "predicted", "probability", "prob_benign",
                                         "prob_malignant", "loss", "correct", "predicted_at_threshold", "gradcam"]
    positive = predictions["label"] == 1
    assert predictions["correct"].mean() == pytest.approx(results["test/acc"], abs=1e-4)
    assert roc_auc_score(positive, predictions["prob_malignant"]) == pytest.approx(results["test/auroc"], abs=1e-4)
    assert predictions["loss"].mean() == pytest.approx(results["test/loss"], abs=1e-4)

    point = results["operating_point"]
    assert (point["positive_class"], point["rule"], point["chosen_on"]) == ("malignant", "youden", "val")
    called = predictions["prob_malignant"] >= point["threshold"]
    assert (predictions["predicted_at_threshold"] == np.where(called, "malignant", "benign")).all()
    assert recall_score(positive, called) == pytest.approx(results["test/sensitivity"], abs=1e-4)
    assert recall_score(~positive, ~called) == pytest.approx(results["test/specificity"], abs=1e-4)
    # the threshold comes from the validation predictions alone
    val = read(run / "val_predictions.csv")
    assert choose_threshold(val["prob_malignant"], val["label"] == 1, parse_rule("youden"))[0] == point["threshold"]

    for name in ("test/auroc", "test/ap", "test/ece", "test/ece_calibrated", "test/nll", "test/nll_calibrated",
                 "test/ppv", "test/npv", "val/auroc", "val/nll_calibrated"):
        assert isinstance(results[name], float), name
    assert results["val/nll_calibrated"] <= results["val/nll"] + 1e-9  # fitted there: never worse
    intervals = results["confidence_intervals"]
    assert (intervals["replicates"], intervals["resampled"], intervals["split"]) == (200, "images", "test")
    for name in ("test/acc", "test/f1_macro", "test/auroc", "test/sensitivity", "test/specificity", "test/ppv",
                 "test/npv"):
        low, high = intervals["metrics"][name]
        assert low <= results[name] <= high, name


def test_the_decision_is_stored_in_the_best_checkpoint_and_shown(two_class_run):
    run = two_class_run
    results = json.loads((run / "results.json").read_text())
    decision = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)["decision"]
    assert decision["temperature"] == results["calibration"]["temperature"] != 1.0
    assert decision["threshold"] == results["operating_point"]["threshold"]
    assert decision["positive_class"] == "malignant" and decision["threshold_rule"] == "youden"
    for name in ("roc.png", "pr.png", "reliability.png"):
        assert (run / name).stat().st_size > 5000, name
    page = (run / "report.html").read_text()
    assert "Operating point: malignant" in page and "Calibration (temperature scaling)" in page
    assert re.search(r"test/sensitivity</td>\s*<td>\d\.\d{4} \[\d\.\d{4}, \d\.\d{4}\]", page)


@pytest.mark.slow
def test_predict_applies_the_threshold_and_calibration_and_says_so(two_class_run, tmp_path):
    run = two_class_run
    decision = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)["decision"]
    images = run.parent.parent / "lesions"
    tables = {}
    for flag in ([], ["--no-calibration"]):
        result = run_main("predict.py", "--ckpt", str(run / "checkpoints" / "best.ckpt"), "--images", str(images),
                          "--out", "preds", "--top-k", "2", *flag, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "'malignant' is predicted when its probability is at least" in result.stdout
        assert ("calibrated with temperature" in result.stdout) == (not flag)
        tables[bool(flag)] = pd.read_csv(tmp_path / "preds" / "predictions.csv")
    calibrated, own = tables[False], tables[True]
    assert len(own) == 64

    def prob(table, name):
        return table[f"prob_{name}"].to_numpy()

    for table, threshold in ((own, decision["threshold"]), (calibrated, decision["threshold_calibrated"])):
        expected = np.where(prob(table, "malignant") >= threshold, "malignant", "benign")
        assert (table["predicted_at_threshold"] == expected).all()
        assert (table["predicted"] == np.where(prob(table, "malignant") > 0.5, "malignant", "benign")).all()
    # one loop: on the run's test images, predict.py's rows are the run's predictions.csv rows
    evaluated = read(run / "predictions.csv")
    own["path"] = [str(Path(path).relative_to(images)) for path in own["path"]]
    same = evaluated.merge(own, on="path", suffixes=("", "_predict"))
    assert len(same) == len(evaluated) and "accuracy" in result.stdout
    for column in ("label", "predicted", "correct", "predicted_at_threshold"):
        assert (same[column].astype(str) == same[f"{column}_predict"].astype(str)).all(), column
    for column in ("prob_malignant", "loss"):
        np.testing.assert_allclose(same[column], same[f"{column}_predict"], atol=1e-5)
    # dividing the logits by T: logit(p_cal) = logit(p_own) / T
    logit = lambda p: np.log(p) - np.log1p(-p)  # noqa: E731
    mask = (prob(own, "malignant") > 1e-4) & (prob(own, "malignant") < 1 - 1e-4)
    np.testing.assert_allclose(logit(prob(calibrated, "malignant"))[mask],
                               logit(prob(own, "malignant"))[mask] / decision["temperature"], atol=1e-3)


@pytest.mark.slow
def test_decision_flags_and_groups_through_the_cli(tmp_path):
    data = two_class_folder(tmp_path / "lesions")
    paths = sorted(str(p.relative_to(data)) for p in data.rglob("*.png"))
    groups = pd.DataFrame({"path": paths, "group": [f"p{index // 4}" for index in range(len(paths))]})
    groups.to_csv(tmp_path / "groups.csv", index=False)
    result = run_main("train.py", "--data", str(data), "--groups", str(tmp_path / "groups.csv"), "--positive-class",
                      "benign", "--threshold-rule", "sensitivity=0.9", "--bootstrap", "50", "--name", "flags", *TINY,
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "positive class 'benign' (--positive-class to change); operating threshold by sensitivity=0.9" in \
        result.stdout
    run = tmp_path / "runs" / "flags"
    results = json.loads((run / "results.json").read_text())
    assert results["operating_point"]["positive_class"] == "benign"
    assert results["operating_point"]["rule"] == "sensitivity=0.9" and results["val/sensitivity"] >= 0.9
    assert results["confidence_intervals"]["resampled"] == "groups"
    assert results["confidence_intervals"]["replicates"] == 50
    predictions = read(run / "predictions.csv")
    slices = pd.read_csv(run / "slices.csv", dtype={"value": str})
    assert sorted(slices["value"]) == sorted(predictions["group"].unique())
    assert slices["images"].sum() == len(predictions) and slices["errors"].sum() == (~predictions["correct"]).sum()
    assert "Failure slices" in (run / "report.html").read_text()

    refused = run_cli("train.py", "--data", str(data), "--bootstrap", "-1", *TINY, cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip() == "error: --bootstrap must be 0 or more, got -1"


@pytest.mark.parametrize("argv, message", [
    (["--positive-class", "tumour"], r"--positive-class: no class 'tumour'; the classes are benign, malignant"),
    (["--threshold-rule", "sensitivity=2"], r"--threshold-rule sensitivity=2: the sensitivity to keep must be in"),
    (["--threshold-rule", "best"], r"--threshold-rule: unknown rule 'best'; valid rules: youden, f1"),
    (["--monitor", "val/acc_top5"], r"--monitor val/acc_top5 needs at least 6 classes, the data has 2"),
    (["--three", "--threshold-rule", "f1"], r"--threshold-rule: only for two-class tasks, and the data has 3 classes"),
    (["--three", "--positive-class", "a"], r"--positive-class: only for two-class tasks.*classification_report"),
])
def test_bad_decision_flags_end_in_one_line_before_training(tmp_path, capsys, argv, message):
    if argv[0] == "--three":
        data, argv = make_class_folder(tmp_path / "three", {"a": 6, "b": 6, "c": 6}, size=8), argv[1:]
    else:
        data = two_class_folder(tmp_path / "lesions")
    code = main(["--data", str(data), "--out-dir", str(tmp_path / "runs"), *TINY, *argv])
    err = capsys.readouterr().err
    assert code == 2 and re.search(message, err), err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_a_class_absent_from_the_test_split_gets_empty_cells_and_a_note(tmp_path):
    root = tmp_path / "presplit"
    colours = {"a": (200, 60, 60), "b": (60, 200, 60), "c": (60, 60, 200)}
    for offset, (split, counts) in enumerate((("train", {"a": 8, "b": 8, "c": 8}), ("val", {"a": 3, "b": 3, "c": 3}),
                                              ("test", {"a": 4, "b": 4}))):
        for index, (name, count) in enumerate(counts.items()):
            write_images(root / split / name, count, colours[name], size=8, seed=10 * offset + index)
    run = train(TrainConfig.of(data=str(root), model="linear", img_size=8, batch_size=8, epochs=1, num_workers=0,
                               logger=["none"], bootstrap=20, out_dir=str(tmp_path / "runs"), name="absent").validate())
    results = json.loads((run / "results.json").read_text())
    report = pd.read_csv(run / "classification_report.csv", index_col="class")
    assert np.isnan(report.loc["c", "auroc"]) and np.isnan(report.loc["c", "ap"])
    assert "class(es) c have no images in the test split" in results["notes"][0]
    predictions = read(run / "predictions.csv")
    expected = np.mean([roc_auc_score(predictions["class"] == name, predictions[f"prob_{name}"]) for name in "ab"])
    assert results["test/auroc"] == pytest.approx(expected, abs=1e-4)
    assert report.loc["macro avg", "auroc"] == pytest.approx(expected, abs=1e-4)
    assert "operating_point" not in results  # three classes: no threshold
