"""Two CPU processes with DDP (gloo): one run folder, and metrics equal to a single-process evaluation."""

import json

import lightning as L
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from conftest import run_cli
from litcls.data.datamodule import FolderDataModule
from litcls.data.transforms import Preprocessing
from litcls.models.module import ClassifierModule

TINY = ["--img-size", "16", "--batch-size", "4", "--num-workers", "0", "--val-size", "0.25", "--test-size", "0.25",
        "--logger", "csv", "--epochs", "2"]


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_counts_every_test_image_once(image_folder, tmp_path):
    result = run_cli("train.py", "--data", str(image_folder), "--accelerator", "cpu", "--devices", "2",
                     "--strategy", "ddp", "--name", "ddp", *TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    # both processes read one shared array of decoded images; the single-process evaluation below decodes files
    assert "image cache: ram" in result.stdout
    # 9 training images per process, 3 steps per epoch: batch-norm statistics are recomputed on both processes
    # and averaged; the single-process evaluation below then sees what each process evaluated with
    assert "batch-norm statistics are recomputed" in result.stdout + result.stderr
    # not a terminal: one line per epoch, printed by the first process only
    assert [line.split()[1] for line in result.stdout.splitlines() if line.startswith("epoch ")] == ["1/2", "2/2"]
    run = tmp_path / "runs" / "ddp"
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["ddp"]  # one folder for both processes
    results = json.loads((run / "results.json").read_text())
    assert results["processes"] == 2 and results["effective_batch_size"] == 8

    splits = pd.read_csv(run / "splits.csv")
    assert (splits["split"] == "test").sum() % 2 == 1  # an odd test set: padding would repeat an image
    module = ClassifierModule.load_from_checkpoint(run / "checkpoints" / "best.ckpt")
    datamodule = FolderDataModule(image_folder, splits, module.class_names,
                                  Preprocessing.from_dict(module.hparams.preprocessing), batch_size=4)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    single = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    for key in ("test/loss", "test/acc", "test/f1_macro", "test/f1_micro", "test/auroc", "test/ap", "test/ece"):
        assert results[key] == pytest.approx(single[key], abs=1e-6), (key, results, single)

    counts = pd.read_csv(run / "confusion_matrix.csv", index_col=0)  # summed over both processes
    test_rows = splits[splits["split"] == "test"]
    assert counts.sum(axis=1).tolist() == test_rows.groupby("label").size().tolist()
    macro = [row for row in results["classification_report"]["rows"] if row["class"] == "macro avg"][0]
    assert macro["f1"] == pytest.approx(single["test/f1_macro"], abs=1e-6)

    # predictions.csv: gathered from both processes, each test image exactly once, in splits.csv order
    predictions = pd.read_csv(run / "predictions.csv", dtype={"class": str, "predicted": str}, keep_default_na=False)
    assert list(predictions["path"]) == list(test_rows["path"])
    assert predictions["correct"].mean() == pytest.approx(results["test/acc"], abs=1e-4)
    probabilities = predictions[[f"prob_{name}" for name in module.class_names]].to_numpy()
    auroc = np.mean([roc_auc_score(predictions["label"] == k, probabilities[:, k]) for k in range(3)])
    assert auroc == pytest.approx(results["test/auroc"], abs=1e-4)
    assert len(pd.read_csv(run / "val_predictions.csv")) == (splits["split"] == "val").sum()

