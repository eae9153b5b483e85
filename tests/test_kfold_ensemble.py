"""A tiny k-fold run end to end: its aggregate evaluates the ensemble of its folds on the held-out test split beside
the folds' mean; predict.py on the run folder predicts exactly that ensemble; the ensemble exports as one ONNX graph
that agrees with predict.py on image files larger than the model's input; the named TTA policies apply to it."""

import json

import numpy as np
import pandas as pd
import pytest

from conftest import make_class_folder
from litcls.cli.predict import main as predict_main
from litcls.cli.train import main as train_main
from litcls.data.transforms import Preprocessing
from litcls.inference.export import read_onnx_metadata
from litcls.inference.onnx_parity import onnx_probabilities
from test_predict import write_photo_like

CLASSES = ["blue", "green", "red"]
PROBS = [f"prob_{name}" for name in CLASSES]


@pytest.fixture(scope="module")
def kfold_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("kfold")
    data = make_class_folder(root / "colours", {name: 10 for name in CLASSES})
    assert train_main(["--data", str(data), "--folds", "2", "--test-size", "0.3", "--model", "cnn", "--img-size", "16",
                       "--epochs", "1", "--num-workers", "0", "--augment", "none", "--logger", "none",
                       "--bootstrap", "0", "--gradcam-per-class", "0", "--gradcam-mistakes", "0",
                       "--out-dir", str(root / "runs"), "--name", "cv"]) == 0
    run = root / "runs" / "cv"
    splits = pd.read_csv(run / "splits.csv", keep_default_na=False)
    test = sorted(str(data / path) for path in splits.loc[splits["split"] == "test", "path"])
    return run, data, test


def predict(run, images, out, *flags):
    assert predict_main(["--ckpt", str(run), "--images", *map(str, images), "--out", str(out), *flags]) == 0
    return pd.read_csv(out / "predictions.csv", keep_default_na=False)


def test_the_aggregate_reports_the_ensemble_on_test_beside_the_folds_mean(kfold_run):
    run, _, test = kfold_run
    results = json.loads((run / "cv_results.json").read_text())
    ensemble = results["ensemble"]
    assert ensemble == json.loads((run / "ensemble.json").read_text())
    assert ensemble["members"] == ["fold_0", "fold_1"] and ensemble["test"]["images"] == len(test)
    assert ensemble["fit_images"] == results["out_of_fold"]["images"]  # out-of-fold rows, no test row
    table = pd.read_csv(run / "cv_results.csv", dtype={"fold": str})
    assert list(table["fold"]) == ["0", "1", "mean", "std", "ensemble"]
    assert table.iloc[-1]["test/acc"] == pytest.approx(ensemble["test"]["test/acc"])
    written = pd.read_csv(run / "ensemble_predictions.csv", keep_default_na=False)
    assert ensemble["test"]["test/acc"] == pytest.approx((written["predicted"] == written["class"]).mean())
    assert "Ensemble of the members" in (run / "report.html").read_text()


def test_predict_on_the_run_folder_is_the_ensemble_the_aggregate_evaluated(kfold_run, tmp_path):
    run, data, test = kfold_run
    plain = predict(run, test, tmp_path / "plain", "--no-calibration")
    folds = [pd.read_csv(run / f"fold_{fold}" / "predictions.csv").sort_values("path") for fold in range(2)]
    mean = sum(fold[PROBS].to_numpy() for fold in folds) / 2
    assert plain[PROBS].to_numpy() == pytest.approx(mean, abs=1e-5)
    calibrated = predict(run, test, tmp_path / "calibrated")
    expected = pd.read_csv(run / "ensemble_predictions.csv").sort_values("path")
    assert calibrated[PROBS].to_numpy() == pytest.approx(expected[PROBS].to_numpy(), abs=1e-5)
    assert list(calibrated["predicted"]) == list(expected["predicted"])


def test_named_tta_policies_apply_to_the_ensemble(kfold_run, tmp_path):
    run, _, test = kfold_run
    tables = {policy: predict(run, test, tmp_path / policy, "--no-calibration", "--tta", policy)
              for policy in ("none", "flip", "flips", "shift", "flip-shift")}
    alone = predict(run, test, tmp_path / "alone", "--no-calibration", "--tta")  # --tta alone: flip, as before
    assert alone[PROBS].to_numpy() == pytest.approx(tables["flip"][PROBS].to_numpy(), abs=1e-6)
    for policy in ("flip", "flips", "shift", "flip-shift"):
        assert np.abs(tables[policy][PROBS].to_numpy() - tables["none"][PROBS].to_numpy()).max() > 1e-4, policy
    with pytest.raises(SystemExit) as refused:
        predict_main(["--ckpt", str(run), "--images", test[0], "--tta", "mirror"])
    assert refused.value.code == 2


def test_the_ensemble_exports_as_one_onnx_graph_that_agrees_with_predict(kfold_run, tmp_path, capsys):
    run, data, _ = kfold_run
    photos = write_photo_like(tmp_path / "photos")  # larger than the 16 px input, and a few small ones
    table = predict(run, photos, tmp_path / "out", "--export", "onnx")
    out = capsys.readouterr().out
    assert "agrees with predict.py on 100.0% of decisions" in out
    metadata = read_onnx_metadata(tmp_path / "out" / "model.onnx")
    ensemble = json.loads((run / "ensemble.json").read_text())
    assert metadata["class_names"] == CLASSES and metadata["decision"]["members"] == 2
    assert metadata["decision"]["temperature"] == pytest.approx(ensemble["temperature"])
    assert len(metadata["preprocessing"]["members"]) == 2
    onnx = onnx_probabilities(tmp_path / "out" / "model.onnx", photos, Preprocessing(img_size=16))
    difference = np.abs(onnx - table[PROBS].to_numpy())
    large = np.array(["300x200" in path.name for path in photos])  # shrunk exactly; small ones enlarged within
    assert difference[large].max() < 1e-4 and difference.max() < 5e-3  # one 8-bit level (docs/predict.md)


def test_the_demo_page_predicts_with_the_ensemble_of_the_run_folder(kfold_run, tmp_path):
    from litcls.cli.demo_page import decision_note, explain_image
    from litcls.inference.ensemble import load_ensemble

    run, _, test = kfold_run
    members, ensemble = load_ensemble([run])
    expected = predict(run, test[:1], tmp_path / "one").iloc[0]
    shown = explain_image(members, None, test[0], top_k=3, ensemble=ensemble)
    assert shown.confidences[expected["predicted"]] == pytest.approx(expected["probability"], abs=1e-6)
    assert f"{expected['probability']:.6f}" in shown.summary and shown.overlay is None
    assert f"the mean of 2 members' probabilities, calibrated with temperature {ensemble.temperature:.3f}" in \
        decision_note(members[0], ensemble, members=2)
