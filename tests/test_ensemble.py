"""predict.py with several checkpoints: a k-fold or seeds run folder, or --ckpt repeated, predicts with the mean of
the members' probabilities, calibrated by the run's ensemble.json; members of other classes, empty run folders and
calibration without held-out predictions are refused in one line."""

import json

import pandas as pd
import pytest
import torch

from conftest import make_class_folder
from litcls.cli.predict import main as predict_main
from litcls.data.transforms import Preprocessing
from litcls.inference.predictor import find_images, load_checkpoint, predict_images
from litcls.models.module import ClassifierModule

CLASSES = ["blue", "green", "red"]


def save_member(path, seed, temperature, classes=CLASSES):
    """A checkpoint as train.py writes it (hyperparameters, weights, the evaluation's decision), untrained."""
    torch.manual_seed(seed)
    module = ClassifierModule("cnn", classes, Preprocessing(img_size=16).to_dict())
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict(),
                "decision": {"temperature": temperature}}, path)
    return path


@pytest.fixture(scope="module")
def kfold_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble")
    data = make_class_folder(root / "colours", {name: 4 for name in CLASSES})
    run = root / "runs" / "cv"
    members = [save_member(run / f"fold_{fold}" / "checkpoints" / "best.ckpt", fold, 0.5 + fold) for fold in range(3)]
    return run, members, data


def member_probabilities(members, paths, calibrated=False):
    columns = [f"prob_{name}" for name in CLASSES]
    tables = [predict_images(load_checkpoint(member), paths, calibrated=calibrated) for member in members]
    return sum(table[columns].to_numpy() for table in tables) / len(tables)


def write_ensemble_json(run, temperature, members=("fold_0", "fold_1", "fold_2")):
    (run / "ensemble.json").write_text(json.dumps({"members": list(members), "class_names": CLASSES,
                                                   "temperature": temperature, "fitted_on": "out-of-fold"}))


@pytest.mark.parametrize("calibrated", [False, True])
def test_a_kfold_folder_predicts_the_mean_of_its_folds(kfold_run, tmp_path, calibrated, capsys):
    """--no-calibration: exactly the mean of the members' own probabilities (not their own temperatures); by
    default softmax(log(mean) / T) with the T of the run's ensemble.json."""
    run, members, data = kfold_run
    write_ensemble_json(run, 2.0)
    flags = [] if calibrated else ["--no-calibration"]
    assert predict_main(["--ckpt", str(run), "--images", str(data), "--out", str(tmp_path), *flags]) == 0
    assert "the ensemble of 3 members" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "predictions.csv", keep_default_na=False)
    expected = member_probabilities(members, find_images([data]))
    if calibrated:
        expected = torch.softmax(torch.log(torch.from_numpy(expected)) / 2.0, dim=1).numpy()
    assert table[[f"prob_{name}" for name in CLASSES]].to_numpy() == pytest.approx(expected, abs=1e-5)
    assert list(table["predicted"]) == [CLASSES[index] for index in expected.argmax(axis=1)]


def test_repeated_ckpt_is_an_ensemble_of_those_checkpoints(kfold_run, tmp_path):
    run, members, data = kfold_run
    assert predict_main(["--ckpt", str(members[0]), "--ckpt", str(members[2]), "--images", str(data), "--out",
                         str(tmp_path), "--no-calibration"]) == 0
    table = pd.read_csv(tmp_path / "predictions.csv", keep_default_na=False)
    expected = member_probabilities([members[0], members[2]], find_images([data]), calibrated=False)
    assert table[[f"prob_{name}" for name in CLASSES]].to_numpy() == pytest.approx(expected, abs=1e-5)


def one_line_error(capsys, *parts):
    error = capsys.readouterr().err
    assert all(part in error for part in parts) and len(error.splitlines()) == 1, error


def test_calibration_without_held_out_predictions_is_refused_in_one_line(kfold_run, tmp_path, capsys):
    run, members, data = kfold_run
    assert predict_main(["--ckpt", str(members[0]), "--ckpt", str(members[2]), "--images", str(data)]) == 2
    one_line_error(capsys, "no out-of-fold predictions", "--no-calibration")
    (run / "ensemble.json").unlink(missing_ok=True)
    assert predict_main(["--ckpt", str(run), "--images", str(data), "--out", str(tmp_path)]) == 2
    one_line_error(capsys, "has no ensemble.json", "--aggregate", "--no-calibration")
    write_ensemble_json(run, 1.5, members=("fold_0", "fold_1"))  # fitted before fold_2 finished
    assert predict_main(["--ckpt", str(run), "--images", str(data), "--out", str(tmp_path)]) == 2
    one_line_error(capsys, "was fitted for members fold_0, fold_1", "--aggregate")
    assert not (tmp_path / "predictions.csv").exists()


def test_mixed_members_and_empty_runs_are_refused_in_one_line(kfold_run, tmp_path, capsys):
    run, members, data = kfold_run
    (tmp_path / "nofolds").mkdir()
    (tmp_path / "nofolds" / "config.yaml").write_text("folds: 5\n")
    assert predict_main(["--ckpt", str(tmp_path / "nofolds"), "--images", str(data)]) == 2
    one_line_error(capsys, "cross-validation run without any fold_* folder")
    other = save_member(tmp_path / "other.ckpt", 0, 1.0, classes=["cat", "dog", "red"])
    assert predict_main(["--ckpt", str(members[0]), "--ckpt", str(other), "--images", str(data),
                         "--no-calibration"]) == 2
    error = capsys.readouterr().err
    assert "the same classes in the same order" in error and "cat, dog, red" in error and len(error.splitlines()) == 1
    (tmp_path / "empty" / "fold_0").mkdir(parents=True)
    assert predict_main(["--ckpt", str(tmp_path / "empty"), "--images", str(data)]) == 2
    error = capsys.readouterr().err
    assert "cross-validation run without a finished member" in error and len(error.splitlines()) == 1
    assert predict_main(["--ckpt", str(run), "--images", str(data), "--gradcam", "--no-calibration"]) == 2
    assert "take one checkpoint" in capsys.readouterr().err
