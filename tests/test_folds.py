"""k-fold assignment, group-aware splits and the leakage checks that run before any training."""

import os
import re

import pandas as pd
import pytest

from conftest import make_class_folder
from litcls.data.folds import fold_split
from litcls.data.groups import attach_groups, check_groups_disjoint
from litcls.data.scan import scan_folder
from litcls.data.splits import split_samples
from litcls.errors import UserError
from litcls.runs.crossval import kfold_samples


@pytest.fixture
def scan(tmp_path):
    return scan_folder(make_class_folder(tmp_path / "d", {"a": 40, "b": 20, "c": 100}, size=4))


def five_per_group(path):
    """``a/img_007.png`` -> ``a/1``: images 0-4 of a class form one group (a patient), 5-9 the next, ..."""
    return f"{path.split('/')[-2]}/{int(path[-7:-4]) // 5}"


def write_groups(scan, path, group_of=five_per_group):
    rows = [(p, group_of(p)) for p in scan.samples["path"]]
    pd.DataFrame(rows, columns=["path", "group"]).to_csv(path, index=False)
    return path


def test_validation_folds_partition_the_pool_and_are_stratified(scan):
    samples = kfold_samples(scan, folds=5, test_size=0.2, seed=0)
    pool = samples[samples["split"] == "pool"]
    assert samples.loc[samples["split"] == "test", "fold"].isna().all()
    assert sorted(pool["fold"].unique()) == [0, 1, 2, 3, 4]
    per_class = pool.groupby(["label", "fold"]).size().unstack()
    assert (per_class.max(axis=1) - per_class.min(axis=1) <= 1).all()  # 1/5 of every class in every fold
    val_paths = []
    for fold in range(5):
        table = fold_split(samples, fold)
        assert set(table["split"]) == {"train", "val", "test"}
        assert (table.loc[table["split"] == "val", "fold"] == fold).all()
        assert table.loc[table["split"] == "test", "path"].tolist() == samples.loc[samples["split"] == "test",
                                                                                   "path"].tolist()
        val_paths += table.loc[table["split"] == "val", "path"].tolist()
    assert sorted(val_paths) == sorted(pool["path"])  # every pool image validated exactly once


def test_kfold_test_split_is_the_single_run_test_split(scan):
    single = split_samples(scan, val_size=0.15, test_size=0.2, seed=3)
    kfold = kfold_samples(scan, folds=4, test_size=0.2, seed=3)
    assert (kfold["split"] == "test").equals(single["split"] == "test")


def test_folds_are_reproducible_from_the_seed(scan):
    first, again = kfold_samples(scan, 3, 0.0, seed=1), kfold_samples(scan, 3, 0.0, seed=1)
    pd.testing.assert_frame_equal(first, again)
    assert set(first["split"]) == {"pool"}
    assert not first["fold"].equals(kfold_samples(scan, 3, 0.0, seed=2)["fold"])


def test_class_with_fewer_images_than_folds_is_named(tmp_path):
    scan = scan_folder(make_class_folder(tmp_path, {"many": 30, "rare": 4}, size=4))
    with pytest.raises(UserError, match=r"--folds 5: class\(es\) rare \(4\) have fewer images than folds"):
        kfold_samples(scan, folds=5, test_size=0.0, seed=0)


def test_groups_never_cross_holdout_splits_or_folds(scan, tmp_path):
    grouped = attach_groups(scan, write_groups(scan, tmp_path / "groups.csv"))
    assert grouped.samples["group"].nunique() == 32
    single = split_samples(grouped, val_size=0.2, test_size=0.2, seed=0)
    assert (single.groupby("group")["split"].nunique() == 1).all()
    assert set(single["split"]) == {"train", "val", "test"}
    check_groups_disjoint(single)
    kfold = kfold_samples(grouped, folds=3, test_size=0.2, seed=0)
    assert (kfold.groupby("group")[["split", "fold"]].nunique(dropna=False) == 1).all().all()
    check_groups_disjoint(kfold)
    for fold in range(3):
        check_groups_disjoint(fold_split(kfold, fold))


def test_group_in_two_presplit_folders_stops_before_training(tmp_path):
    make_class_folder(tmp_path / "data" / "train", {"a": 4, "b": 4}, size=4)
    make_class_folder(tmp_path / "data" / "test", {"a": 2, "b": 2}, size=4)
    scan = scan_folder(tmp_path / "data")
    groups = write_groups(scan, tmp_path / "groups.csv", group_of=lambda p: p[-5])  # train/a/img_001 -> group 1
    samples = split_samples(attach_groups(scan, groups), val_size=0.25, test_size=0.0, seed=0)
    with pytest.raises(UserError, match=r"have images in more than one split: 0 \(test and train\), 1 \(test and"):
        check_groups_disjoint(samples)


def test_groups_file_accepts_absolute_paths(scan, tmp_path):
    relative = write_groups(scan, tmp_path / "groups.csv")
    table = pd.read_csv(relative)
    table["path"] = [os.path.join(scan.root.resolve(), p) for p in table["path"]]
    table.to_csv(tmp_path / "absolute.csv", index=False)
    pd.testing.assert_series_equal(attach_groups(scan, tmp_path / "absolute.csv").samples["group"],
                                   attach_groups(scan, relative).samples["group"])


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.iloc[2:], r"has no group for 2 of the 160 images in .*: a/img_000.png, a/img_001.png"),
    (lambda t: pd.concat([t, pd.DataFrame({"path": ["a/ghost.png"], "group": ["x"]})]),
     r"names images that are not in .*: a/ghost.png; paths are relative to the data folder"),
    (lambda t: pd.concat([t, t.iloc[:1].assign(group="other")]), r"gives more than one group to: a/img_000.png"),
    (lambda t: t.rename(columns={"group": "patient"}), r"must have the columns path and group; found: path, patient"),
])
def test_bad_groups_file_is_named(scan, tmp_path, edit, message):
    file = write_groups(scan, tmp_path / "groups.csv")
    edit(pd.read_csv(file)).to_csv(file, index=False)
    with pytest.raises(UserError, match=f"--groups: .*groups.csv {message}"):
        attach_groups(scan, file)


def test_fewer_groups_than_folds_is_refused(scan, tmp_path):
    grouped = attach_groups(scan, write_groups(scan, tmp_path / "g.csv", group_of=lambda p: p[-5] in "01234"))
    with pytest.raises(UserError, match="--folds 4 needs at least 4 groups .* found 2"):
        kfold_samples(grouped, folds=4, test_size=0.0, seed=0)


def test_class_held_out_whole_by_its_groups_is_named(tmp_path):
    scan = scan_folder(make_class_folder(tmp_path / "d", {"a": 30, "b": 30, "solo": 6}, size=4))
    one_patient = write_groups(scan, tmp_path / "g.csv",
                               group_of=lambda p: "solo" if p.startswith("solo") else five_per_group(p))
    grouped = attach_groups(scan, one_patient)
    with pytest.warns(UserWarning) as record:
        samples = split_samples(grouped, val_size=0.2, test_size=0.2, seed=0)
    assert samples.loc[samples["label"] == 2, "split"].nunique() == 1  # one patient: one split
    messages = [str(warning.message) for warning in record]
    assert any(re.match(r"--groups: (the \w+ split|what is left after the \w+ split) has no image of class\(es\) "
                        r"solo: their images belong to too few groups", m) for m in messages), messages
