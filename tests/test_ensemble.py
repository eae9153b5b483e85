"""predict.py with several checkpoints: a k-fold or seeds run folder, or --ckpt repeated, predicts with the mean of
the members' probabilities; members of other classes and empty run folders are refused in one line."""

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


def member_probabilities(members, paths, calibrated):
    columns = [f"prob_{name}" for name in CLASSES]
    tables = [predict_images(load_checkpoint(member), paths, calibrated=calibrated) for member in members]
    return sum(table[columns].to_numpy() for table in tables) / len(tables)


@pytest.mark.parametrize("calibrated", [False, True])
def test_a_kfold_folder_predicts_the_mean_of_its_folds(kfold_run, tmp_path, calibrated, capsys):
    run, members, data = kfold_run
    flags = [] if calibrated else ["--no-calibration"]
    assert predict_main(["--ckpt", str(run), "--images", str(data), "--out", str(tmp_path), *flags]) == 0
    assert "the mean of 3 members'" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "predictions.csv", keep_default_na=False)
    expected = member_probabilities(members, find_images([data]), calibrated)
    assert table[[f"prob_{name}" for name in CLASSES]].to_numpy() == pytest.approx(expected, abs=1e-5)
    assert list(table["predicted"]) == [CLASSES[index] for index in expected.argmax(axis=1)]


def test_repeated_ckpt_is_an_ensemble_of_those_checkpoints(kfold_run, tmp_path):
    run, members, data = kfold_run
    assert predict_main(["--ckpt", str(members[0]), "--ckpt", str(members[2]), "--images", str(data), "--out",
                         str(tmp_path), "--no-calibration"]) == 0
    table = pd.read_csv(tmp_path / "predictions.csv", keep_default_na=False)
    expected = member_probabilities([members[0], members[2]], find_images([data]), calibrated=False)
    assert table[[f"prob_{name}" for name in CLASSES]].to_numpy() == pytest.approx(expected, abs=1e-5)


def test_mixed_members_and_empty_runs_are_refused_in_one_line(kfold_run, tmp_path, capsys):
    run, members, data = kfold_run
    other = save_member(tmp_path / "other.ckpt", 0, 1.0, classes=["cat", "dog", "red"])
    assert predict_main(["--ckpt", str(members[0]), "--ckpt", str(other), "--images", str(data)]) == 2
    error = capsys.readouterr().err
    assert "the same classes in the same order" in error and "cat, dog, red" in error and len(error.splitlines()) == 1
    (tmp_path / "empty" / "fold_0").mkdir(parents=True)
    assert predict_main(["--ckpt", str(tmp_path / "empty"), "--images", str(data)]) == 2
    error = capsys.readouterr().err
    assert "cross-validation run without a finished member" in error and len(error.splitlines()) == 1
    assert predict_main(["--ckpt", str(run), "--images", str(data), "--gradcam"]) == 2
    assert "take one checkpoint" in capsys.readouterr().err
