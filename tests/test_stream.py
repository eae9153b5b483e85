"""LitData streams: ``python -m litcls.stream`` writes any source as an optimized dataset, and a run on it (a local
folder standing in for the bucket) has the folder's split, evaluation rows and resumable training."""

import json
import os
import shutil
import signal
import subprocess
import sys

import albumentations as A
import numpy as np
import pandas as pd
import pytest
import torch
from litdata import StreamingDataset

import litcls.runs.trainer
from conftest import REPO, make_class_folder
from digit_folders import make_digit_folder
from litcls.cli.stream import main as stream_main
from litcls.cli.train import main
from litcls.config import TrainConfig
from litcls.data import sources
from litcls.data.datamodule import FolderDataModule
from litcls.data.samples import MULTI_LABEL, targets_of
from litcls.data.sources import DataSpec, load_samples
from litcls.data.splits import SPLITS, split_samples
from litcls.data.stream import write
from litcls.data.stream.datamodule import StreamDataModule
from litcls.data.stream.images import training_stream
from litcls.data.stream.table import VERSION, item_fields, item_image, read_table
from litcls.data.stream.write import write_stream
from litcls.data.transforms import Preprocessing
from litcls.runs.resume import load_split
from real_shaped_datasets import CHEXPERT_FINDINGS, write_chexpert_manifest
from test_resume import SendSignal

SMALL = ["--model", "mlp", "--img-size", "8", "--batch-size", "4", "--num-workers", "0", "--augment", "none",
         "--logger", "csv", "--bootstrap", "0", "--gradcam-per-class", "0", "--gradcam-mistakes", "0"]


def stream_command(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "litcls.stream", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})}, timeout=300)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A small digit folder (3 classes of 12, mixed sizes, modes and formats) and its stream, written by the CLI."""
    root = tmp_path_factory.mktemp("stream")
    folder = make_digit_folder(root / "digits", classes=3, per_class=12)
    done = stream_command("--data", "digits", "--out", "digits-stream", "--num-workers", "1", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "wrote 36 images of 3 classes" in done.stdout
    return folder, root / "digits-stream"


def test_a_run_on_the_stream_has_the_folders_split_and_evaluates_the_same_rows(digits, tmp_path, monkeypatch):
    folder, stream = digits
    monkeypatch.chdir(tmp_path)
    for name, data in (("folder", folder), ("stream", stream)):
        assert main(["--data", str(data), "--epochs", "1", "--name", name, *SMALL]) == 0
    runs = tmp_path / "runs"
    assert (runs / "folder" / "splits.csv").read_bytes() == (runs / "stream" / "splits.csv").read_bytes()
    assert (runs / "folder" / "classes.json").read_text() == (runs / "stream" / "classes.json").read_text()
    predicted = {name: pd.read_csv(runs / name / "predictions.csv") for name in ("folder", "stream")}
    pd.testing.assert_frame_equal(predicted["folder"][["path", "label", "class"]],
                                  predicted["stream"][["path", "label", "class"]])
    splits = pd.read_csv(runs / "stream" / "splits.csv")
    assert sorted(predicted["stream"]["path"]) == sorted(splits.loc[splits["split"] == "test", "path"])
    # evaluation decodes the stored bytes as the folder's files: the same weights give the same probabilities
    folder_run = json.loads((runs / "folder" / "results.json").read_text())
    assert set(json.loads((runs / "stream" / "results.json").read_text())) == set(folder_run)


def test_a_multi_label_manifest_streams_and_trains_per_label_as_from_the_manifest(tmp_path, monkeypatch):
    manifest = write_chexpert_manifest(tmp_path / "chexpert", patients=30, size=8)
    source = ["--image-root", str(tmp_path / "chexpert"), "--path-col", "Path", "--label-cols",
              ",".join(CHEXPERT_FINDINGS), "--group-pattern", r"patient(\d+)"]
    stream = str(tmp_path / "stream")
    monkeypatch.chdir(tmp_path)
    assert stream_main(["--data", str(manifest), "--out", stream, *source]) == 0
    assert read_table(stream).table.task == MULTI_LABEL
    assert main(["--data", str(manifest), *source, "--epochs", "1", "--name", "manifest", *SMALL]) == 0
    assert main(["--data", stream, "--epochs", "1", "--name", "stream", *SMALL]) == 0
    runs = tmp_path / "runs"
    for name in ("splits.csv", "classes.json", "label_prevalence.csv"):
        assert (runs / "manifest" / name).read_bytes() == (runs / "stream" / name).read_bytes(), name
    truth = ["path", *(f"true_{name}" for name in CHEXPERT_FINDINGS)]
    predicted = {name: pd.read_csv(runs / name / "predictions.csv") for name in ("manifest", "stream")}
    pd.testing.assert_frame_equal(predicted["manifest"][truth], predicted["stream"][truth])
    assert predicted["stream"][truth[1:]].isna().any().any()  # the uncertain cells stay ignored
    reports = {name: pd.read_csv(runs / name / "classification_report.csv") for name in ("manifest", "stream")}
    pd.testing.assert_frame_equal(reports["manifest"][["class", "support"]], reports["stream"][["class", "support"]])
    results = json.loads((runs / "stream" / "results.json").read_text())
    assert set(results["thresholds"]["by_label"]) == set(CHEXPERT_FINDINGS)
    # the multi-label flags were applied when the stream was written: given again, they are refused
    assert main(["--data", stream, "--label-cols", ",".join(CHEXPERT_FINDINGS), "--name", "again", *SMALL]) == 2

    # the run's split read back for --resume is multi-label; the training stream hands each item its own row's
    # targets (NaN where ignored), as evaluation does by index
    scan, samples = load_split(runs / "stream", TrainConfig.of(data=stream))
    assert scan.task == MULTI_LABEL and scan.stream == stream
    module = StreamDataModule(stream, samples, scan.classes, Preprocessing((8, 8)), batch_size=64, seed=42,
                              task=scan.task)
    module.setup("fit")
    for name, loader in (("train", module.train_dataloader()), ("val", module.val_dataloader())):
        streamed = torch.cat([targets for _, targets in loader]).numpy()
        expected = targets_of(module.split(name), module.classes)
        if name == "train":  # shuffled by LitData: compare the rows in one order
            streamed, expected = (rows[np.lexsort(np.nan_to_num(rows, nan=-1).T)] for rows in (streamed, expected))
        np.testing.assert_array_equal(streamed, expected)  # NaN where ignored, in the same cells


def test_the_items_are_laid_out_by_the_default_split_so_its_training_rows_stream_as_one_run(digits):
    _, stream = digits
    stored = read_table(str(stream))
    samples = split_samples(stored.table, 0.15, 0.15, 42)  # train.py's defaults, as the stream was written
    position = dict(zip(stored.table.samples["path"], stored.positions, strict=True))
    placed = {name: sorted(position[path] for path in samples.loc[samples["split"] == name, "path"])
              for name in SPLITS}
    start = 0
    for name in SPLITS:  # train, then val, then test, each a contiguous range
        assert placed[name] == list(range(start, start + len(placed[name]))), name
        start += len(placed[name])
    # shuffled within the training part: not one class after another
    labels = stored.table.samples.set_index("path").loc[
        sorted(position, key=position.get)[:len(placed["train"])], "label"].tolist()
    assert sum(a != b for a, b in zip(labels, labels[1:], strict=False)) > len(labels) // 3
    streamed = training_stream(str(stream), placed["train"], A.Compose([]), None, seed=42)
    assert len(streamed.region_of_interest) == 1 and len(streamed) == len(placed["train"])
    assert streamed.posix_fast  # whole chunks: read memory-mapped in place, also by loader workers
    other = split_samples(stored.table, 0.15, 0.15, 7)  # another seed still streams its own rows, as short runs
    rows = [position[path] for path in other.loc[other["split"] == "train", "path"]]
    runs = training_stream(str(stream), rows, A.Compose([]), None, seed=7)
    assert len(runs) == len(rows) and len(runs.region_of_interest) > 4 and runs.posix_fast is None


def test_a_grey_model_reads_the_stream_as_grey_as_it_reads_the_folder(digits):
    folder, stream = digits
    table, _ = load_samples(DataSpec(str(stream)))
    samples = split_samples(table, 0.15, 0.15, 42)
    grey = Preprocessing((8, 12), in_chans=3).with_input(1, "squash")
    options = {"augment": "none", "batch_size": 4, "num_workers": 0, "seed": 42}
    from_stream = StreamDataModule(str(stream), samples, table.classes, grey, **options)
    from_folder = FolderDataModule(folder, samples, table.classes, grey, **options)
    for module in (from_stream, from_folder):
        module.setup("fit")
    images, _ = next(iter(from_stream.train_dataloader()))
    assert images.shape[1:] == (1, 8, 12)
    streamed, _ = next(iter(from_stream.val_dataloader()))
    read, _ = next(iter(from_folder.val_dataloader()))
    assert torch.equal(streamed, read)  # the same bytes, decoded and made grey the same way


def test_the_stream_keeps_a_manifests_groups_given_splits_and_metadata_also_written_by_two_processes(
        tmp_path, monkeypatch):
    images = make_class_folder(tmp_path / "images", {"a": 6, "b": 6})
    files = sorted(path.relative_to(images).as_posix() for path in images.rglob("*.png"))
    manifest = pd.DataFrame({"file": files, "diagnosis": [path.split("/")[0] for path in files],
                             "patient": [f"p{i // 2}" for i in range(len(files))],
                             "fold": ["test" if i < 4 else "train" for i in range(len(files))],
                             "site": [f"site {i % 3}" for i in range(len(files))]})
    manifest.to_csv(images / "labels.csv", index=False)
    spec = DataSpec(str(images / "labels.csv"), path_col="file", label_col="diagnosis", group_col="patient",
                    split_col="fold")
    table, duplicates = load_samples(spec)
    write_stream(table, tmp_path / "out", spec.data, duplicates)
    stored = read_table(str(tmp_path / "out"))
    pd.testing.assert_frame_equal(stored.table.samples, table.samples)
    assert stored.table.classes == table.classes and stored.source == spec.data
    assert {"group", "site"} <= set(stored.table.samples) and (stored.table.samples["split"] == "test").sum() == 4
    monkeypatch.setattr(write, "MIN_ITEMS_PER_WRITER", 4)
    write_stream(table, tmp_path / "two", spec.data, duplicates, workers=2)  # forked writers, merged
    assert {path.name.split("-")[1] for path in (tmp_path / "two").glob("chunk-*.bin")} == {"0", "1"}
    one, two = StreamingDataset(str(tmp_path / "out")), StreamingDataset(str(tmp_path / "two"))
    assert len(one) == len(two) == len(table.samples)
    for position in range(len(one)):
        assert one[position] == two[position]
        fields = item_fields(two[position])
        row = table.samples.iloc[fields["row"]]
        assert (fields["path"], fields["group"], fields["split"], fields["metadata"]) == (
            row["path"], row["group"], row["split"], {"site": row["site"]})
        assert item_image(two[position]) == (images / row["path"]).read_bytes()


def test_resume_mid_epoch_on_a_stream_continues_the_loaders_state(digits, tmp_path, monkeypatch, capsys):
    _, stream = digits
    monkeypatch.chdir(tmp_path)
    args = ["--data", str(stream), "--epochs", "2", *SMALL]
    assert main([*args, "--name", "whole"]) == 0
    original = litcls.runs.trainer.build_callbacks
    monkeypatch.setattr(litcls.runs.trainer, "build_callbacks",
                        lambda *a: [*original(*a), SendSignal(signal.SIGTERM, epoch=1, batch=2)])
    assert main([*args, "--name", "cut"]) == 128 + signal.SIGTERM
    assert "stopped by SIGTERM in epoch 2 after batch 3" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert main(["--resume", "runs/cut"]) == 0
    whole, cut = (torch.load(tmp_path / "runs" / name / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
                  for name in ("whole", "cut"))
    for name, tensor in whole.items():  # the resumed epoch streamed exactly the batches the cut one had left
        assert torch.equal(tensor, cut[name]), name


def test_bad_streams_are_refused_in_one_line_before_a_run_folder_exists(digits, tmp_path, monkeypatch, capsys):
    _, stream = digits
    unfinished = tmp_path / "unfinished"
    shutil.copytree(stream, unfinished)
    (unfinished / "index.json").unlink()
    foreign = tmp_path / "foreign"
    shutil.copytree(stream, foreign)
    (foreign / "litcls-stream.json").unlink()
    older = tmp_path / "older"
    shutil.copytree(stream, older)
    document = json.loads((older / "litcls-stream.json").read_text())
    (older / "litcls-stream.json").write_text(json.dumps({**document, "version": 0}))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.setenv(key, str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(tmp_path)
    cases = [(unfinished, "not a LitData optimized dataset (its writing did not finish)"),
             (foreign, "a LitData dataset without litcls-stream.json, so not written by python -m litcls.stream"),
             (older, f"written by another version of litcls (stream format 0, this one reads {VERSION})"),
             ("s3://litcls-test-bucket/digits", "no AWS credentials found")]
    for data, message in cases:
        assert main(["--data", str(data), "--epochs", "1", *SMALL]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and str(data) in lines[0], lines
        assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert stream_main(["--data", "digits", "--out", str(stream)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err


def test_an_image_gone_after_the_scan_stops_the_writing_in_one_line_and_leaves_no_stream(tmp_path, monkeypatch,
                                                                                         capsys):
    images = make_class_folder(tmp_path / "images", {"a": 4, "b": 4})
    gone = sorted(images.rglob("*.png"))[3]
    scan = sources.load_samples

    def scan_then_delete(spec):  # the file is removed between the scan and the writing process's read of it
        found = scan(spec)
        gone.unlink()
        return found

    monkeypatch.setattr(sources, "load_samples", scan_then_delete)
    assert stream_main(["--data", str(images), "--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"cannot read {gone}" in lines[0] and "run the command again" in lines[0], lines
    assert not (tmp_path / "out").exists()
