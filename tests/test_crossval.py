"""k-fold cross-validation end to end: real tiny runs in-process through litcls.runs.dispatch, one through the CLI."""

import json
import re
import shutil
import signal

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import confusion_matrix, roc_auc_score

import litcls.runs.trainer
from conftest import make_class_folder, run_cli, run_main
from litcls.cli.train import main
from litcls.config import TrainConfig
from litcls.errors import UserError
from litcls.models import get_model_spec
from litcls.runs.crossval import aggregate
from litcls.runs.dispatch import train
from litcls.runs.resume import resume
from test_resume import SendSignal
from wandb_records import read_offline_run

METRICS = ["test/acc", "test/f1_macro", "test/f1_micro", "test/loss", "val/acc", "val/f1_macro", "val/f1_micro",
           "val/loss"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Two folds of a 3-class, 16 px folder; the smallest settings that still train a real model."""
    tmp_path = tmp_path_factory.mktemp("crossval")
    data = make_class_folder(tmp_path / "shapes", {"circle": 12, "square": 12, "triangle": 12})
    return TrainConfig.of(data=str(data), model="linear", img_size=8, batch_size=8, epochs=1, num_workers=0,
                          test_size=0.25, folds=2, augment="light", logger=["none"], out_dir=str(tmp_path / "runs"),
                          accelerator="cpu").validate()


def metrics_of(fold_dir):
    """test/* from the fold run's results.json, val/* from its best checkpoint on the validation fold."""
    results = json.loads((fold_dir / "results.json").read_text()) | json.loads((fold_dir / "val_results.json")
                                                                                .read_text())
    return {key: results[key] for key in METRICS}


@pytest.fixture(scope="module")
def all_folds(tiny):
    return train(tiny.replace(name="all"))


def test_all_folds_write_the_run_folder(all_folds):
    run = all_folds
    splits = pd.read_csv(run / "splits.csv")
    assert list(splits.columns) == ["path", "label", "class", "split", "fold"]
    pool = splits[splits["split"] == "pool"]
    assert len(splits[splits["split"] == "test"]) == 9 and splits.loc[splits["split"] == "test", "fold"].isna().all()
    for fold in (0, 1):
        fold_dir = run / f"fold_{fold}"
        for name in ("config.yaml", "splits.csv", "metrics.csv", "checkpoints/best.ckpt", "results.json",
                     "confusion_matrix.csv", "val_results.json", "val_predictions.csv"):
            assert (fold_dir / name).is_file(), f"fold_{fold}/{name}"
        fold_splits = pd.read_csv(fold_dir / "splits.csv")
        val = fold_splits[fold_splits["split"] == "val"]
        assert sorted(val["path"]) == sorted(pool.loc[pool["fold"] == fold, "path"])
        assert (fold_splits.loc[fold_splits["split"] == "test", "path"] == splits.loc[splits["split"] == "test",
                                                                                      "path"]).all()
        # the saved predictions are those the validation metrics were computed from
        predictions = pd.read_csv(fold_dir / "val_predictions.csv", dtype={"class": str, "predicted": str})
        assert len(predictions) == len(val) and (predictions["predicted"] == predictions["class"]).eq(
            predictions["correct"]).all()
        accuracy = predictions["correct"].mean()
        assert accuracy == pytest.approx(metrics_of(fold_dir)["val/acc"], abs=1e-6)

    cv = json.loads((run / "cv_results.json").read_text())
    assert cv["finished_folds"] == [0, 1] and cv["missing_folds"] == [] and "ddof=1" in cv["std"]
    per_fold = [metrics_of(run / f"fold_{fold}") for fold in (0, 1)]
    for name in METRICS:
        values = [fold[name] for fold in per_fold]
        assert cv["metrics"][name]["per_fold"] == values
        assert cv["metrics"][name]["mean"] == pytest.approx(np.mean(values))
        assert cv["metrics"][name]["std"] == pytest.approx(np.std(values, ddof=1))
    table = pd.read_csv(run / "cv_results.csv", index_col="fold")
    assert list(table.index) == ["0", "1", "mean", "std", "ensemble"] and set(METRICS) <= set(table.columns)

    oof = pd.read_csv(run / "oof_predictions.csv")
    assert sorted(oof["path"]) == sorted(pool["path"])  # every pool image once, by the model that did not train on it
    assert (oof.set_index("path")["fold"] == pool.set_index("path")["fold"].loc[oof["path"]]).all()
    matrix = pd.read_csv(run / "oof_confusion_matrix.csv", index_col=0)
    assert list(matrix.columns) == list(matrix.index) == ["circle", "square", "triangle"]
    np.testing.assert_array_equal(matrix.to_numpy(), confusion_matrix(oof["class"], oof["predicted"],
                                                                       labels=["circle", "square", "triangle"]))
    assert cv["out_of_fold"]["images"] == 27
    assert cv["out_of_fold"]["oof/acc"] == pytest.approx(oof["correct"].mean())
    report = pd.read_csv(run / "oof_classification_report.csv", index_col="class")
    assert report.loc["macro avg", "f1"] == pytest.approx(cv["out_of_fold"]["oof/f1_macro"])
    # threshold-free metrics: in every fold's results and the aggregate, and over the out-of-fold predictions
    assert {"test/auroc", "test/ap", "test/ece", "val/auroc", "val/ece_calibrated"} <= set(cv["metrics"])
    names = ["circle", "square", "triangle"]
    auroc = np.mean([roc_auc_score(oof["class"] == name, oof[f"prob_{name}"]) for name in names])
    assert cv["out_of_fold"]["oof/auroc"] == pytest.approx(auroc, abs=1e-4)
    assert report.loc["macro avg", "auroc"] == pytest.approx(auroc, abs=1e-4)
    assert {"oof/ap", "oof/ece"} <= set(cv["out_of_fold"])
    fold_columns = pd.read_csv(run / "fold_0" / "predictions.csv").columns
    assert list(oof.columns) == [column for column in fold_columns if column != "gradcam"]  # the same table
    assert report.loc[["circle", "square", "triangle"], "support"].tolist() == matrix.sum(axis=1).tolist()
    assert (run / "oof_confusion_matrix.png").stat().st_size > 1000


def test_fold_jobs_alone_then_aggregated_equal_the_all_folds_run(tiny, all_folds, capsys):
    job = tiny.replace(name="array", fold=1)
    run = train(job)
    assert not (run / "cv_results.json").exists()
    assert "still to run: 0" in capsys.readouterr().out
    with pytest.warns(UserWarning, match=r"fold\(s\) 0 of 2 have not finished"):
        partial = aggregate(run)
    assert partial["metrics"]["val/acc"]["std"] is None  # one fold: the sample std is undefined
    for name in METRICS:
        assert partial["metrics"][name]["per_fold"] == [metrics_of(all_folds / "fold_1")[name]]
    pd.testing.assert_frame_equal(pd.read_csv(run / "oof_predictions.csv"),
                                  pd.read_csv(all_folds / "fold_1" / "val_predictions.csv"))

    with pytest.raises(UserError, match=r"--fold 1: .*fold_1 exists already"):
        train(job)
    with pytest.raises(UserError, match=r"--fold 0: .*array holds a run with other settings \(lr: 0.001 there, "
                                        r"0.5 here\)"):
        train(job.replace(fold=0, lr=0.5))

    train(job.replace(fold=0, logger=["csv"]))  # the last job aggregates; its logger may differ
    together, apart = (json.loads((folder / "cv_results.json").read_text()) for folder in (all_folds, run))
    for name in METRICS:
        assert apart["metrics"][name] == together["metrics"][name]
    assert apart["out_of_fold"] == together["out_of_fold"]
    pd.testing.assert_frame_equal(pd.read_csv(run / "splits.csv"), pd.read_csv(all_folds / "splits.csv"))


@pytest.mark.parametrize("target", ["fold_1", "."])
def test_an_interrupted_fold_resumes_into_the_aggregate(all_folds, tmp_path, capsys, target):
    """A fold stopped before its results (here: during the final test) is resumed from its own folder, or with
    the whole k-fold run; the resumed fold writes its validation predictions, and being the last one, the
    aggregate."""
    run = tmp_path / "copied"
    shutil.copytree(all_folds, run)
    for name in ("fold_1/results.json", "fold_1/val_results.json", "fold_1/val_predictions.csv", "cv_results.json",
                 "cv_results.csv", "oof_predictions.csv", "report.html"):
        (run / name).unlink()
    resume(str(run / target), {})
    assert "2-fold cross-validation" in capsys.readouterr().out
    resumed, original = (json.loads((folder / "cv_results.json").read_text()) for folder in (run, all_folds))
    for name in METRICS:
        assert resumed["metrics"][name] == original["metrics"][name]
    pd.testing.assert_frame_equal(pd.read_csv(run / "oof_predictions.csv"),
                                  pd.read_csv(all_folds / "oof_predictions.csv"))
    assert (run / "report.html").is_file()
    with pytest.raises(UserError, match=r"is finished \(every fold and cv_results.json written\)"):
        resume(str(run), {})


def test_aggregate_reads_the_fold_predictions_of_an_older_version(all_folds, tmp_path, capsys):
    """Before the decision evaluation, a fold's val_predictions.csv held pred, pred_class and prob_<class> (see
    commit b9ac78f): the aggregate reads them into today's columns, with the same out-of-fold scores; a file
    without the probabilities stops in one line that says what to do."""
    run = tmp_path / "older"
    shutil.copytree(all_folds, run)
    classes = json.loads((run / "classes.json").read_text())
    for fold in (0, 1):
        file = run / f"fold_{fold}" / "val_predictions.csv"
        today = pd.read_csv(file, keep_default_na=False)
        older = today[["path", "label", "class", "fold"]].assign(
            pred=today["predicted"].map(classes.index), pred_class=today["predicted"])
        older = pd.concat([older, today[[f"prob_{name}" for name in classes]]], axis=1)
        older.to_csv(file, index=False)
    assert main(["--aggregate", str(run)]) == 0
    capsys.readouterr()
    upgraded, original = (json.loads((folder / "cv_results.json").read_text()) for folder in (run, all_folds))
    assert upgraded["out_of_fold"] == pytest.approx(original["out_of_fold"], abs=1e-6)
    table, expected = (pd.read_csv(folder / "oof_predictions.csv") for folder in (run, all_folds))
    assert list(table.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(table.drop(columns="loss"), expected.drop(columns="loss"))
    np.testing.assert_allclose(table["loss"], expected["loss"], rtol=1e-5)

    file = run / "fold_1" / "val_predictions.csv"
    pd.read_csv(file).drop(columns=f"prob_{classes[0]}").to_csv(file, index=False)
    assert main(["--aggregate", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"fold_1/val_predictions.csv has no column(s) predicted, prob_{classes[0]}" in err
    assert "--name NEW_NAME" in err
    assert len(err.strip().splitlines()) == 1


def write_fold(run, fold, **metrics):
    (run / f"fold_{fold}").mkdir(parents=True)
    (run / f"fold_{fold}" / "results.json").write_text(json.dumps({**metrics, "monitor": "val/loss"}))


def test_aggregation_arithmetic_against_numpy(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("folds: 4\n")
    (run / "classes.json").write_text('["a", "b"]')
    known = {"val/acc": [0.5, 0.75, 1.0, 0.25], "test/loss": [1.5, 0.5, 2.0, 1.0], "epochs_trained": [3, 5, 4, 4]}
    for fold in range(4):
        write_fold(run, fold, **{name: values[fold] for name, values in known.items()})
    cv = aggregate(run)
    for name, values in known.items():
        assert cv["metrics"][name]["mean"] == pytest.approx(np.mean(values))
        assert cv["metrics"][name]["std"] == pytest.approx(np.std(values, ddof=1))
    assert cv["metrics"]["val/acc"]["std"] == pytest.approx(0.3227486, abs=1e-7)
    assert cv["out_of_fold"] is None  # no fold wrote predictions
    table = pd.read_csv(run / "cv_results.csv", index_col="fold")
    assert table.loc["mean", "test/loss"] == pytest.approx(1.25)
    assert table.loc["std", "epochs_trained"] == pytest.approx(np.std([3, 5, 4, 4], ddof=1))


def test_aggregate_refuses_a_folder_that_is_not_a_cross_validation_run(tmp_path, capsys):
    (tmp_path / "single").mkdir()
    (tmp_path / "single" / "config.yaml").write_text("folds: 0\n")
    assert main(["--aggregate", str(tmp_path / "single")]) == 2
    assert "is not a cross-validation run" in capsys.readouterr().err
    assert main(["--aggregate", str(tmp_path / "nowhere")]) == 2
    assert re.search(r"--aggregate: .*nowhere/config.yaml not found", capsys.readouterr().err)


@pytest.mark.parametrize("argv, message", [
    (["--fold", "1"], "--fold 1 needs --folds K"),
    (["--folds", "3", "--fold", "3", "--name", "x"], "--fold must be in 0..2 for --folds 3, got 3"),
    (["--folds", "3", "--fold", "1"], "--fold needs --name"),
    (["--folds", "1"], "--folds must be 0 .* or at least 2, got 1"),
    (["--groups", "no_such.csv"], "--groups: no such file: no_such.csv"),
    (["--folds", "13"], r"--folds 13: class\(es\) circle \(12\), square \(12\), triangle \(12\) have fewer"),
])
def test_bad_cross_validation_requests_stop_before_training(tmp_path, capsys, argv, message):
    data = make_class_folder(tmp_path / "shapes", {"circle": 12, "square": 12, "triangle": 12}, size=8)
    code = main(["--data", str(data), "--test-size", "0", "--out-dir", str(tmp_path / "runs"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and re.search(message, err), err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_cli_group_kfold_run(tmp_path):
    data = make_class_folder(tmp_path / "shapes", {"circle": 12, "square": 12, "triangle": 12})
    paths = sorted(str(p.relative_to(data)) for p in data.rglob("*.png"))
    groups = pd.DataFrame({"path": paths, "group": [f"{p.split('/')[0]}-{int(p[-7:-4]) // 2}" for p in paths]})
    groups.to_csv(tmp_path / "groups.csv", index=False)
    result = run_main("train.py", "--data", str(data), "--groups", str(tmp_path / "groups.csv"), "--folds", "3",
                      "--test-size", "0.2", "--model", "linear", "--img-size", "8", "--epochs", "1", "--batch-size",
                      "8", "--num-workers", "0", "--name", "grouped", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "grouped"
    splits = pd.read_csv(run / "splits.csv")
    assert list(splits.columns) == ["path", "label", "class", "split", "fold", "group"]
    assert (splits.groupby("group")[["split", "fold"]].nunique(dropna=False) == 1).all().all()
    for fold in range(3):
        fold_splits = pd.read_csv(run / f"fold_{fold}" / "splits.csv")
        assert (fold_splits.groupby("group")["split"].nunique() == 1).all()
    summary = result.stdout[result.stdout.index("3-fold cross-validation"):]
    for name in ("test/acc", "val/f1_macro", "oof/acc"):
        assert re.search(rf"\n{re.escape(name)} +\d\.\d{{4}}", summary), summary
    assert re.search(r"\nval/acc +\d\.\d{4} ± \d\.\d{4}", summary)
    assert (run / "cv_results.json").is_file() and (run / "oof_confusion_matrix.csv").is_file()


@pytest.mark.slow
def test_fold_jobs_under_ddp_share_one_run_folder_and_keep_a_frozen_backbone_frozen(tmp_path):
    """Two array jobs of one k-fold run, each on two DDP processes (each launch costs seconds of imports, so one
    pair of launches checks both): the jobs share one run folder, the last one aggregates, and a backbone frozen
    under DDP leaves every fold's checkpoint with the starting tensors, batch-norm statistics included."""
    data = make_class_folder(tmp_path / "shapes", {"circle": 8, "square": 8}, size=8)
    torch.manual_seed(0)
    start = get_model_spec("resnet20").build(num_classes=2).state_dict()
    torch.save(start, tmp_path / "resnet20.pth")
    for fold in ("1", "0"):
        result = run_cli("train.py", "--data", str(data), "--folds", "2", "--fold", fold, "--name", "array",
                         "--model", "resnet20", "--weights", str(tmp_path / "resnet20.pth"), "--freeze-backbone",
                         "--img-size", "8", "--epochs", "1", "--num-workers", "0",
                         "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", cwd=tmp_path, timeout=300)
        assert result.returncode == 0, result.stderr
        checkpoint = torch.load(tmp_path / "runs" / "array" / f"fold_{fold}" / "checkpoints" / "last.ckpt",
                                weights_only=True)
        for key, value in start.items():
            if not key.startswith("fc."):
                assert torch.equal(checkpoint["state_dict"][f"model.{key}"], value), (fold, key)
    cv = json.loads((tmp_path / "runs" / "array" / "cv_results.json").read_text())
    assert cv["finished_folds"] == [0, 1]
    splits = pd.read_csv(tmp_path / "runs" / "array" / "splits.csv")
    oof = pd.read_csv(tmp_path / "runs" / "array" / "oof_predictions.csv")
    assert sorted(oof["path"]) == sorted(splits.loc[splits["split"] == "pool", "path"])


def test_groups_file_missing_images_stops_before_training(tmp_path, capsys):
    data = make_class_folder(tmp_path / "shapes", {"circle": 6, "square": 6}, size=8)
    (tmp_path / "groups.csv").write_text("path,group\ncircle/img_000.png,p1\n")
    code = main(["--data", str(data), "--folds", "2", "--groups", str(tmp_path / "groups.csv"),
                 "--out-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert re.search(r"error: --groups: .*groups.csv has no group for 11 of the 12 images in .*shapes: "
                     r"circle/img_001.png, .*every image needs a group", err), err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_each_fold_is_a_wandb_run_in_one_group(tiny, tmp_path):
    # a subprocess, so that the wandb service this starts cannot serve a later test's process
    env = {"NETRC": str(tmp_path / "no-netrc"), "WANDB_SILENT": "true", "WANDB_CACHE_DIR": str(tmp_path / "cache"),
           "WANDB_CONFIG_DIR": str(tmp_path / "config")}
    result = run_cli("train.py", "--data", tiny.data.source, "--folds", "2", "--test-size", "0.25", "--model", "linear",
                     "--img-size", "8", "--batch-size", "8", "--epochs", "1", "--num-workers", "0", "--logger",
                     "wandb", "--wandb-mode", "offline", "--no-log-model", "--name", "tracked", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "runs" / "tracked"
    for fold in (0, 1):
        [offline] = (run / f"fold_{fold}" / "wandb").glob("offline-run-*")
        record = read_offline_run(offline)
        assert (record.group, record.job_type, record.exit_code) == ("tracked", f"fold_{fold}", 0)
        assert record.summary["test/acc"] == pytest.approx(metrics_of(run / f"fold_{fold}")["test/acc"])


@pytest.mark.slow
def test_a_cross_validation_run_stopped_in_its_second_fold_resumes_as_one_run(tmp_path, monkeypatch, capsys):
    """SIGTERM in fold 1 of 3: --resume on the run folder finishes fold 1 from its checkpoint, runs fold 2, which
    never started, and aggregates; every fold ends as it does in an uninterrupted run."""
    data = make_class_folder(tmp_path / "shapes", {"circle": 12, "square": 12, "triangle": 12}, size=8)
    args = ["--data", str(data), "--folds", "3", "--test-size", "0.25", "--model", "linear", "--img-size", "8",
            "--epochs", "2", "--num-workers", "0", "--augment", "none", "--logger", "none", "--gradcam-per-class",
            "0", "--gradcam-mistakes", "0", "--out-dir", str(tmp_path / "runs")]
    assert main([*args, "--name", "whole"]) == 0
    original = litcls.runs.trainer.build_callbacks
    monkeypatch.setattr(litcls.runs.trainer, "build_callbacks", lambda config, *args: [
        *original(config, *args),
        *([SendSignal(signal.SIGTERM, epoch=1, batch=1)] if config.repeats.fold == 1 else [])])
    assert main([*args, "--name", "cut"]) == 128 + signal.SIGTERM
    whole, cut = tmp_path / "runs" / "whole", tmp_path / "runs" / "cut"
    assert f"Continue with: python train.py --resume {cut} (every fold left" in capsys.readouterr().err
    assert (cut / "fold_1" / "checkpoints" / "last.ckpt").is_file() and not (cut / "fold_1" / "results.json").exists()
    assert not (cut / "fold_2").exists() and not (cut / "cv_results.json").exists()

    monkeypatch.undo()
    assert main(["--resume", str(cut)]) == 0
    assert "fold(s) 1, 2 to finish" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(cut / "splits.csv"), pd.read_csv(whole / "splits.csv"))
    for fold in range(3):
        for name in ("splits.csv", "val_predictions.csv"):
            pd.testing.assert_frame_equal(pd.read_csv(cut / f"fold_{fold}" / name),
                                          pd.read_csv(whole / f"fold_{fold}" / name))
    resumed, original_cv = (json.loads((run / "cv_results.json").read_text()) for run in (cut, whole))
    assert resumed["finished_folds"] == [0, 1, 2]
    for name in METRICS:
        assert resumed["metrics"][name]["per_fold"] == original_cv["metrics"][name]["per_fold"], name
    page = (cut / "report.html").read_text()
    assert "Mean ± std over 3 fold(s)" in page and "fold_2/report.html" in page
