"""Real Trainer runs on tiny folders: the evaluation files appear, agree with each other and with splits.csv."""

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import make_class_folder
from litcls.config import TrainConfig
from litcls.errors import UserError
from litcls.runs.dispatch import train

CLASSES = {"고양이": 12, "dog": 12, "bird": 12}


def _config(tmp_path, **overrides) -> TrainConfig:
    values = dict(data=str(make_class_folder(tmp_path / "pets", CLASSES)), img_size=16, batch_size=8, epochs=2,
                  num_workers=0, val_size=0.25, test_size=0.25, out_dir=str(tmp_path / "runs"), name="run",
                  logger=["csv"], augment="none")
    return TrainConfig.of(**{**values, **overrides}).validate()


def _check_report_page(run):
    page = (run / "report.html").read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sources and all(src.startswith("data:image/png;base64,") for src in sources)
    for src in sources:
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
    for href in re.findall(r'href="([^"]+)"', page):
        assert (run / href).is_file(), href
    return page, len(sources)


def test_run_writes_evaluation_files_that_agree(tmp_path):
    run = train(_config(tmp_path, logger=["csv", "tensorboard"]))

    splits = pd.read_csv(run / "splits.csv", keep_default_na=False)
    test_rows = splits[splits["split"] == "test"]
    names = json.loads((run / "classes.json").read_text(encoding="utf-8"))
    counts = pd.read_csv(run / "confusion_matrix.csv", index_col=0, keep_default_na=False)
    assert list(counts.columns) == names and list(counts.index) == names
    assert counts.to_numpy().sum() == len(test_rows)  # every test image exactly once
    assert counts.sum(axis=1).tolist() == [int((test_rows["class"] == name).sum()) for name in names]

    report = pd.read_csv(run / "classification_report.csv", dtype={"class": str}, keep_default_na=False,
                         na_values={"auroc": [""], "ap": [""]})  # empty: not defined for an average
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert results["classification_report"]["split"] == "test"
    pd.testing.assert_frame_equal(pd.DataFrame(results["classification_report"]["rows"]), report)
    rows = report.set_index("class")
    assert rows.loc[names, "support"].tolist() == counts.sum(axis=1).tolist()
    assert rows.loc["micro avg", "recall"] == pytest.approx(np.trace(counts.to_numpy()) / len(test_rows))
    assert rows.loc["macro avg", "f1"] == pytest.approx(results["test/f1_macro"], abs=1e-6)
    assert rows.loc["micro avg", "f1"] == pytest.approx(results["test/acc"], abs=1e-6)
    assert rows.loc["macro avg", "auroc"] == pytest.approx(results["test/auroc"], abs=1e-6)
    assert rows.loc["macro avg", "ap"] == pytest.approx(results["test/ap"], abs=1e-6)

    predictions = pd.read_csv(run / "predictions.csv", dtype={"class": str, "predicted": str}, keep_default_na=False)
    assert list(predictions["path"]) == list(test_rows["path"])  # one row per test image, in splits.csv order
    assert predictions["correct"].mean() == pytest.approx(results["test/acc"], abs=1e-6)
    assert len(pd.read_csv(run / "val_predictions.csv")) == (splits["split"] == "val").sum()
    explained = [file for files in predictions["gradcam"] for file in files.split(";") if file]
    assert sorted(explained) == sorted(f"gradcam/{path.name}" for path in (run / "gradcam").glob("*.png"))

    gradcam = sorted(path.name for path in (run / "gradcam").glob("*.png"))
    for label in range(len(names)):
        assert f"class-{label:02d}-0.png" in gradcam and f"class-{label:02d}-1.png" in gradcam
    for name in ("confusion_matrix.png", "curves.png", "roc.png", "pr.png", "reliability.png"):
        assert (run / name).stat().st_size > 0
    page, images = _check_report_page(run)
    assert images == 5 + len(gradcam) and "고양이" in page
    assert "predictions.csv row" in page  # gallery captions point to the rows they explain
    assert ("Most confident mistakes" in page) == any(name.startswith("mistake-") for name in gradcam)

    logged = EventAccumulator(str(run / "tensorboard")).Reload().Tags()["images"]
    assert {"test/confusion_matrix", "test/gradcam/class-00-0", "test/roc", "test/pr",
            "test/reliability"} <= set(logged)


def test_run_without_test_split_or_convolutions_reports_on_val_and_skips_gradcam(tmp_path, caplog):
    run = train(_config(tmp_path, model="mlp", test_size=0.0, epochs=1))
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert results["classification_report"]["split"] == "val"
    val_rows = pd.read_csv(run / "splits.csv").query("split == 'val'")
    assert pd.read_csv(run / "confusion_matrix.csv", index_col=0).to_numpy().sum() == len(val_rows)
    assert not (run / "gradcam").exists()
    assert "Grad-CAM skipped: model 'mlp' has no convolutional layer" in caplog.text
    page, _ = _check_report_page(run)
    assert "No Grad-CAM overlays" in page and "Results on the val split" in page


def test_plots_every_epoch_write_the_validation_split_per_epoch(tmp_path):
    run = train(_config(tmp_path, epochs=2, plots_every_epoch=True, gradcam_mistakes=0, gradcam_per_class=1))
    val_rows = pd.read_csv(run / "splits.csv").query("split == 'val'")
    for epoch in (0, 1):
        folder = run / "epochs" / f"epoch_{epoch:03d}"
        counts = pd.read_csv(folder / "confusion_matrix.csv", index_col=0)
        assert counts.to_numpy().sum() == len(val_rows)
        assert len(list((folder / "gradcam").glob("class-*.png"))) == len(CLASSES)
    assert (run / "confusion_matrix.csv").is_file()  # the final test evaluation is still written


def test_a_wrong_gradcam_layer_stops_before_training(tmp_path):
    with pytest.raises(UserError, match=r"--gradcam-layer: no module 'model.nope'.*model\.features\.7"):
        train(_config(tmp_path, gradcam_layer="model.nope"))
    assert not (tmp_path / "runs" / "run" / "checkpoints").exists()
