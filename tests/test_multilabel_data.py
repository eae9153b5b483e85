"""Multi-label data: the two manifest forms, splits and folds that keep every label's prevalence and every group
whole, float targets with NaN in the batches, the digits-grid built-in, and the refusals of bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from conftest import run_cli
from litcls.cli.train import main
from litcls.config import TrainConfig
from litcls.data import splits
from litcls.data.datamodule import FolderDataModule
from litcls.data.folds import assign_folds, placement
from litcls.data.groups import check_groups_disjoint
from litcls.data.multilabel_splits import label_prevalence
from litcls.data.samples import MULTI_LABEL, SampleTable, target_columns
from litcls.data.sources import DataSpec, load_samples
from litcls.data.transforms import Preprocessing
from litcls.errors import UserError
from litcls.runs.crossval import kfold_samples
from litcls.runs.resume import load_split
from real_shaped_datasets import CHEXPERT_FINDINGS, FINDINGS, write_chestxray14_manifest, write_chexpert_manifest

FAST = ["--model", "mlp", "--img-size", "16", "--num-workers", "0", "--epochs", "1"]


@pytest.fixture(scope="module")
def cxr14(tmp_path_factory):
    return write_chestxray14_manifest(tmp_path_factory.mktemp("cxr14"), patients=60, size=16)


@pytest.fixture(scope="module")
def chexpert(tmp_path_factory):
    return write_chexpert_manifest(tmp_path_factory.mktemp("chexpert"), patients=60, size=16)


def _cxr14_spec(manifest, **changes) -> DataSpec:
    spec = dict(path_col="images/{Image Index}", label_col="Finding Labels", label_sep="|",
                negative_label="No Finding", group_col="Patient ID")
    return DataSpec(str(manifest), **(spec | changes))


def _chexpert_spec(manifest, **changes) -> DataSpec:
    spec = dict(path_col="Path", image_root=str(manifest.parent.parent), label_cols=",".join(CHEXPERT_FINDINGS),
                group_pattern=r"patient(\d+)")
    return DataSpec(str(manifest), **(spec | changes))


def test_joined_labels_become_one_target_column_per_finding(cxr14):
    table, _ = load_samples(_cxr14_spec(cxr14))
    assert table.task == MULTI_LABEL and table.classes == sorted(FINDINGS)
    manifest = pd.read_csv(cxr14, dtype=str, keep_default_na=False).set_index("Image Index")
    samples = table.samples.set_index(table.samples["path"].str.removeprefix("images/"))
    assert len(samples) == len(manifest) and (samples["label"] == -1).all()
    for name, column in zip(table.classes, target_columns(table.classes), strict=True):
        expected = manifest["Finding Labels"].str.split("|").map(lambda labels, name=name: float(name in labels))
        assert samples[column].equals(expected.loc[samples.index].rename(column))
    none = manifest.index[manifest["Finding Labels"] == "No Finding"]
    assert (samples.loc[none, target_columns(table.classes)] == 0).all().all() and len(none) > 0
    assert {"group", "Patient Age", "View Position"} <= set(samples.columns)  # metadata kept, as single-label


@pytest.mark.parametrize(("uncertain", "missing", "minus_one", "blank"),
                         [("ignore", "negative", math.nan, 0.0), ("zeros", "ignore", 0.0, math.nan),
                          ("ones", "negative", 1.0, 0.0)])
def test_label_columns_read_uncertain_and_blank_cells_as_asked(chexpert, uncertain, missing, minus_one, blank):
    table, _ = load_samples(_chexpert_spec(chexpert, uncertain=uncertain, missing=missing))
    assert table.classes == list(CHEXPERT_FINDINGS)  # the order of --label-cols
    manifest = pd.read_csv(chexpert, dtype=str, keep_default_na=False).set_index("Path")
    samples = table.samples.set_index("path")
    cells = manifest.loc[samples.index, list(CHEXPERT_FINDINGS)].to_numpy().ravel()
    values = samples[target_columns(table.classes)].to_numpy().ravel()
    for cell, wanted in (("1.0", 1.0), ("0.0", 0.0), ("-1.0", minus_one), ("", blank)):
        got = values[cells == cell]
        assert len(got) and (np.isnan(got).all() if math.isnan(wanted) else (got == wanted).all()), cell
    assert samples["group"].nunique() == 60 and "No Finding" in samples  # an unlisted column stays metadata


def _frame(seed: int = 0, images: int = 900, grouped: bool = True) -> SampleTable:
    """A generated multi-label table (no files): four labels of prevalence 40/25/12/6 %, some co-occurring,
    1-5 images per group sharing their group's labels mostly."""
    rng = np.random.default_rng(seed)
    prevalence = np.array([0.4, 0.25, 0.12, 0.06])
    rows, group = [], 0
    while len(rows) < images:
        base = rng.random(4) < prevalence
        for _ in range(int(rng.integers(1, 6))):
            labels = base ^ (rng.random(4) < 0.1)
            labels[1] |= labels[0] & (rng.random() < 0.3)
            rows.append([f"g{group:04d}/{len(rows):05d}.png", f"g{group:04d}", *labels.astype(float)])
        group += 1
    classes = ["a", "b", "c", "d"]
    samples = pd.DataFrame(rows, columns=["path", "group", *target_columns(classes)])
    samples.insert(1, "label", -1)
    samples["split"] = ""
    if not grouped:
        samples = samples.drop(columns="group")
    return SampleTable(root=Path("."), classes=classes, samples=samples, task=MULTI_LABEL)


@pytest.mark.parametrize("grouped", [True, False])
def test_splits_keep_every_labels_prevalence_and_every_group_whole(grouped):
    table = _frame(grouped=grouped)
    samples = splits.split_samples(table, 0.15, 0.15, seed=3)
    check_groups_disjoint(samples)  # raises if a group straddles two splits
    prevalence = label_prevalence(samples, table.classes)
    for split in ("train", "val", "test"):
        assert (prevalence[split] - prevalence["all"]).abs().max() < 0.05, prevalence
    sizes = samples["split"].value_counts(normalize=True)
    assert abs(sizes["test"] - 0.15) < 0.03 and abs(sizes["val"] - 0.15) < 0.03
    assert samples["split"].equals(splits.split_samples(table, 0.15, 0.15, seed=3)["split"])  # same seed, same split
    assert not samples["split"].equals(splits.split_samples(table, 0.15, 0.15, seed=4)["split"])
    assert samples.index[samples["split"] == "test"].equals(splits.test_rows(samples, table, 0.15, 3))


def test_folds_keep_every_labels_prevalence_and_every_group_whole():
    table = _frame(seed=1)
    pool = table.samples.assign(split="pool")
    pool["fold"] = assign_folds(pool, 5, seed=0, classes=table.classes)
    check_groups_disjoint(pool)
    prevalence = label_prevalence(pool, table.classes, placement(pool))
    assert len(prevalence.columns) == 6
    gaps = prevalence.drop(columns="all").sub(prevalence["all"], axis=0).abs()
    assert gaps.max().max() < 0.06, prevalence  # a fold holds ~180 images of ~60 groups: a group moves 1-2 points
    kfold = kfold_samples(table, 3, 0.15, seed=5)  # k-fold holds out the test split a single run holds out
    check_groups_disjoint(kfold)
    single = splits.split_samples(table, 0.15, 0.15, seed=5)
    assert kfold.index[kfold["split"] == "test"].equals(single.index[single["split"] == "test"])
    assert set(kfold.loc[kfold["split"] == "pool", "fold"]) == {0, 1, 2}


def test_a_label_without_training_positives_stops_and_one_absent_from_test_warns():
    table = _frame(seed=2)
    samples = table.samples.copy()
    rare = target_columns(table.classes)[3]
    samples[rare] = 0.0
    samples.loc[samples.index[:2], rare] = 1.0  # one group's two images: the rarest label goes to training first
    samples.loc[samples.index[:2], "group"] = "g-rare"
    one_group = SampleTable(table.root, table.classes, samples, task=MULTI_LABEL)
    with pytest.warns(UserWarning, match=r"label\(s\) d have no positive image in the val split"):
        split = splits.split_samples(one_group, 0.15, 0.15, seed=0)
    assert (split.loc[split[rare] == 1, "split"] == "train").all()
    given = samples.assign(split=np.where(np.arange(len(samples)) < 2, "test", "train"))
    with pytest.raises(UserError, match=r"label\(s\) d have no positive image in the training split"):
        splits.split_samples(SampleTable(table.root, table.classes, given, task=MULTI_LABEL), 0.15, 0.15, seed=0)


def test_batches_hold_float_targets_with_nan_where_ignored(chexpert, tmp_path):
    table, _ = load_samples(_chexpert_spec(chexpert))
    samples = splits.split_samples(table, 0.2, 0.2, seed=0)
    module = FolderDataModule(table.root, samples, table.classes, Preprocessing(16), batch_size=64, task=table.task)
    module.setup()
    images, targets = next(iter(module.train_dataloader()))
    assert images.shape == (64, 3, 16, 16) and targets.shape == (64, len(CHEXPERT_FINDINGS))
    assert targets.dtype == torch.float32 and targets.isnan().any()
    assert set(targets[~targets.isnan()].tolist()) <= {0, 1}
    val = module.datasets["val"]
    rows = samples[samples["split"] == "val"]
    expected = torch.tensor(rows[target_columns(table.classes)].to_numpy(), dtype=torch.float32)
    assert torch.equal(torch.stack([val[i][1] for i in range(len(val))]).nan_to_num(-1), expected.nan_to_num(-1))
    splits.write_splits(samples, table.classes, tmp_path / "splits.csv")
    written = pd.read_csv(tmp_path / "splits.csv", keep_default_na=False, dtype=str)
    first = written.iloc[0]
    assert first["class"] == "|".join(name for name in table.classes if first[f"target:{name}"] == "1.0")


def test_digits_grid_is_a_deterministic_multi_label_manifest(tmp_path, monkeypatch):
    monkeypatch.setenv("LITCLS_DATA_HOME", str(tmp_path))
    table, _ = load_samples(DataSpec("digits-grid"))
    assert table.task == MULTI_LABEL and table.classes == [str(digit) for digit in range(10)]
    targets = table.samples[target_columns(table.classes)].to_numpy()
    assert len(table.samples) == 1200 and ((targets.sum(axis=1) >= 1) & (targets.sum(axis=1) <= 4)).all()
    assert (np.abs(targets.mean(axis=0) - 0.34) < 0.08).all()
    first = np.asarray(Image.open(table.root / table.samples["path"].iloc[0]))
    assert first.shape == (16, 16)
    manifest = (table.root / "labels.csv").read_text()
    monkeypatch.setenv("LITCLS_DATA_HOME", str(tmp_path / "again"))
    again, _ = load_samples(DataSpec("digits-grid"))
    assert (again.root / "labels.csv").read_text() == manifest


def _bad_manifests(folder):
    """Manifests with one fault each, over three real images."""
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for index in range(6):
        Image.new("L", (8, 8), 40 * index).save(folder / "img" / f"{index}.png")

    def write(name, rows):
        pd.DataFrame(rows).to_csv(folder / name, index=False)
        return str(folder / name)

    paths = [f"img/{index}.png" for index in range(6)]
    return {
        "cols": write("cols.csv", {"path": paths, "A": ["1", "0"] * 3, "B": ["0", "1"] * 3}),
        "cell": write("cell.csv", {"path": paths, "A": ["1", "0", "yes", "1", "0", "1"], "B": ["0", "1"] * 3}),
        "sep": write("sep.csv", {"path": paths, "labels": ["A|B", "B", "A", "A|B", "B", "A"]}),
        "empty": write("empty.csv", {"path": paths, "labels": ["A,B", "B", "", "A", "B", "A"]}),
        "rare": write("rare.csv", {"path": paths, "labels": ["A,C", "B", "A,B", "A", "B", "A"],
                                   "split": ["test", "train", "train", "train", "val", "test"]}),
    }


CASES = {  # name: (manifest, flags, the line's words)
    "unknown column": ("cols", ["--label-cols", "A,Bx"], "--label-cols: {file} has no column Bx (did you mean B?); "
                       "its columns are: path, A, B"),
    "bad cell": ("cell", ["--label-cols", "A,B"], "column A of {file} holds values other than 1, 0, -1 or blank in "
                 "row 4 ('yes')"),
    "wrong separator": ("sep", ["--label-col", "labels", "--label-sep", ","], "yields a single label on every row"),
    "no label": ("empty", ["--label-col", "labels", "--label-sep", ","], "has no label in row 4; give "
                 "--negative-label"),
    "no training positive": ("rare", ["--label-col", "labels", "--label-sep", ",", "--split-col", "split"],
                             "--split-col: label(s) C of {file} have no positive train row"),
    "positive class": ("cols", ["--label-cols", "A,B", "--positive-class", "A"], "--positive-class and "
                       "--label-cols"),
    "uncertain without columns": ("sep", ["--label-col", "labels", "--label-sep", "|", "--uncertain", "ones"],
                                  "--uncertain read the -1 and blank cells of --label-cols"),
    "class folders": (None, ["--label-sep", "|"], "--label-sep: multi-label needs a CSV or TSV manifest"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_multi_label_input_is_refused_in_one_line(case, tmp_path, capsys, monkeypatch, image_folder):
    manifest, flags, words = CASES[case]
    monkeypatch.chdir(tmp_path)
    data = _bad_manifests(tmp_path / "data")[manifest] if manifest else str(image_folder)
    assert main(["--data", data, *flags, *FAST, "--out-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert words.format(file=data) in err and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("case", ["bad cell", "wrong separator"])
def test_the_cli_refuses_bad_labels_before_torch_loads(case, tmp_path):
    manifest, flags, words = CASES[case]
    data = _bad_manifests(tmp_path)[manifest]
    result = run_cli("train.py", "--data", data, *flags, *FAST, cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert words.format(file=data) in result.stderr and not (tmp_path / "runs").exists()


def test_a_resumed_run_reads_its_multi_label_split_back(chexpert, tmp_path):
    table, _ = load_samples(_chexpert_spec(chexpert))
    samples = splits.split_samples(table, 0.2, 0.2, seed=0)
    splits.write_splits(samples, table.classes, tmp_path / "splits.csv")
    (tmp_path / "classes.json").write_text(json.dumps(table.classes))
    config = TrainConfig.of(data=str(chexpert), image_root=str(chexpert.parent.parent), path_col="Path",
                            label_cols=",".join(CHEXPERT_FINDINGS))
    again, read = load_split(tmp_path, config)
    assert again.task == MULTI_LABEL and again.classes == table.classes
    columns = target_columns(table.classes)
    assert np.array_equal(read[columns].to_numpy(), samples[columns].to_numpy(), equal_nan=True)
    assert read["split"].equals(samples["split"])
