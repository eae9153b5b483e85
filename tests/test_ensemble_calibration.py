"""The ensemble's temperature and two-class threshold come from held-out rows only, never from the test split:
member folders written as a k-fold or seeds run writes them (splits.csv, val_predictions.csv, predictions.csv)."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.special import expit, logit

from litcls.evaluation.ensemble_calibration import fit_ensemble_decision
from litcls.evaluation.predictions import prediction_table
from litcls.runs.ensemble import ENSEMBLE_FILE, PREDICTIONS_FILE, write_ensemble

CLASSES = ["healthy", "sick"]
FOLDS = 3


def rows(names, rng):
    labels = rng.integers(0, 2, len(names))
    margin = np.where(labels == 1, 1.0, -1.0) * 2.5 + rng.normal(0, 2.0, len(names))  # some mistakes
    return pd.DataFrame({"path": names, "label": labels}), np.stack([-margin / 2, margin / 2], axis=1)


def write_member(folder, splits, val, val_logits, test, test_logits):
    folder.mkdir(parents=True)
    splits.to_csv(folder / "splits.csv", index=False)
    prediction_table(val, val_logits, CLASSES).to_csv(folder / "val_predictions.csv", index=False)
    prediction_table(test, test_logits, CLASSES).to_csv(folder / "predictions.csv", index=False)


@pytest.fixture
def kfold_run(tmp_path):
    """Three folds over a pool of 60 images and one shared test split of 30."""
    rng = np.random.default_rng(0)
    pool, pool_logits = rows([f"pool/{i:03d}.png" for i in range(60)], rng)
    test, _ = rows([f"test/{i:03d}.png" for i in range(30)], rng)
    run = tmp_path / "cv"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"folds": FOLDS, "threshold_rule": "youden"}))
    fold_of = np.arange(60) % FOLDS
    for fold in range(FOLDS):
        val = pool[fold_of == fold]
        splits = pd.concat([pool.assign(split=np.where(fold_of == fold, "val", "train")), test.assign(split="test")])
        test_logits = rows(list(test["path"]), np.random.default_rng(10 + fold))[1]
        write_member(run / f"fold_{fold}", splits, val, pool_logits[fold_of == fold], test, test_logits)
    return run


def refit(run):
    ensemble = write_ensemble(run, "fold", list(range(FOLDS)), CLASSES)
    assert json.loads((run / ENSEMBLE_FILE).read_text()) == ensemble
    return ensemble


def plant(file, path, sick_probability):
    """Make the member predict ``path`` with an extreme probability of the wrong class."""
    table = pd.read_csv(file, keep_default_na=False, dtype={"path": str})
    row = table["path"] == path
    wrong = sick_probability if table.loc[row, "label"].item() == 0 else 1 - sick_probability
    table.loc[row, ["prob_healthy", "prob_sick"]] = [1 - wrong, wrong]
    table.to_csv(file, index=False)


def test_a_planted_test_row_moves_the_test_metrics_but_not_the_fitted_temperature_or_threshold(kfold_run):
    before = refit(kfold_run)
    assert before["fit_images"] == 60 and before["test"]["images"] == 30
    assert before["fitted_on"].startswith("out-of-fold")
    for fold in range(FOLDS):  # every member now calls test/000 with certainty, and wrongly
        plant(kfold_run / f"fold_{fold}" / "predictions.csv", "test/000.png", 1 - 1e-7)
    after = refit(kfold_run)
    assert after["test"]["test/nll"] > before["test"]["test/nll"] + 0.1  # the planted row reached the test split
    for key in ("temperature", "threshold", "threshold_calibrated", "fit_images", "nll"):
        assert after[key] == before[key], key
    # the same plant among the fit rows does move them: the check above can fail
    plant(kfold_run / "fold_0" / "val_predictions.csv", "pool/000.png", 1 - 1e-7)
    assert refit(kfold_run)["temperature"] != before["temperature"]


def test_a_test_image_among_the_fit_rows_is_refused(kfold_run):
    val = pd.read_csv(kfold_run / "fold_1" / "val_predictions.csv", keep_default_na=False)
    val.loc[0, "path"] = "test/003.png"
    val.to_csv(kfold_run / "fold_1" / "val_predictions.csv", index=False)
    with pytest.raises(ValueError, match="test images among the rows the ensemble is fitted on: test/003.png"):
        refit(kfold_run)


def test_the_ensemble_test_predictions_are_the_calibrated_mean_of_the_members(kfold_run):
    ensemble = refit(kfold_run)
    members = [pd.read_csv(kfold_run / f"fold_{fold}" / "predictions.csv") for fold in range(FOLDS)]
    mean = sum(table[["prob_healthy", "prob_sick"]].to_numpy() for table in members) / FOLDS
    calibrated = np.exp(np.log(mean) / ensemble["temperature"])
    calibrated /= calibrated.sum(axis=1, keepdims=True)
    written = pd.read_csv(kfold_run / PREDICTIONS_FILE)
    assert written[["prob_healthy", "prob_sick"]].to_numpy() == pytest.approx(calibrated, abs=1e-6)
    called = np.where(calibrated[:, 1] >= ensemble["threshold_calibrated"], "sick", "healthy")
    assert list(written["predicted_at_threshold"]) == list(called)
    # the threshold on the calibrated probability calls the same images as the one on the plain mean
    assert ensemble["threshold_calibrated"] == pytest.approx(expit(logit(ensemble["threshold"]) /
                                                                   ensemble["temperature"]))
    assert ((mean[:, 1] >= ensemble["threshold"]) == (calibrated[:, 1] >= ensemble["threshold_calibrated"])).all()


def test_seeds_on_one_split_fit_on_the_mean_of_every_seed_on_validation(tmp_path):
    rng = np.random.default_rng(1)
    val, _ = rows([f"val/{i:03d}.png" for i in range(40)], rng)
    test, _ = rows([f"test/{i:03d}.png" for i in range(20)], rng)
    splits = pd.concat([val.assign(split="val"), test.assign(split="test")])
    run = tmp_path / "seeds"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"seeds": [1, 2]}))
    member_logits = [rows(list(val["path"]), np.random.default_rng(seed))[1] for seed in (1, 2)]
    for seed, logits in zip((1, 2), member_logits, strict=True):
        write_member(run / f"seed_{seed}", splits, val, logits, test, rows(list(test["path"]), rng)[1])
    ensemble = write_ensemble(run, "seed", [1, 2], CLASSES)
    assert "shared split" in ensemble["fitted_on"] and ensemble["fit_images"] == 40
    mean = sum(pd.read_csv(run / f"seed_{seed}" / "val_predictions.csv")[["prob_healthy", "prob_sick"]].to_numpy()
               for seed in (1, 2)) / 2
    expected = fit_ensemble_decision(mean, val["label"].to_numpy(), CLASSES, 1, None)
    assert ensemble["temperature"] == pytest.approx(expected["temperature"])
    assert ensemble["threshold"] == pytest.approx(expected["threshold"])


def test_a_seeds_run_reports_its_ensemble_beside_the_seeds_mean(tmp_path):
    from litcls.runs.seeds import aggregate_seeds

    test_seeds_on_one_split_fit_on_the_mean_of_every_seed_on_validation(tmp_path)
    run = tmp_path / "seeds"
    (run / "classes.json").write_text(json.dumps(CLASSES))
    for seed in (1, 2):
        table = pd.read_csv(run / f"seed_{seed}" / "predictions.csv")
        (run / f"seed_{seed}" / "results.json").write_text(json.dumps({"test/acc": float(table["correct"].mean())}))
    results = aggregate_seeds(run)
    assert results["ensemble"]["test"]["images"] == 20
    written = pd.read_csv(run / "seeds_results.csv", dtype={"seed": str})
    assert list(written["seed"]) == ["1", "2", "mean", "std", "ensemble"]
    assert written.iloc[-1]["test/acc"] == pytest.approx(results["ensemble"]["test"]["test/acc"])
    assert "Ensemble of the members" in (run / "report.html").read_text()
