import pandas as pd
import pytest

from conftest import make_class_folder
from litcls.data.scan import scan_folder
from litcls.data.splits import split_samples, write_splits
from litcls.errors import UserError


@pytest.fixture
def scan(tmp_path):
    return scan_folder(make_class_folder(tmp_path / "d", {"a": 40, "b": 20, "c": 100}, size=4))


def test_every_class_split_in_proportion(scan):
    samples = split_samples(scan, val_size=0.2, test_size=0.1, seed=0)
    table = samples.groupby(["label", "split"]).size().unstack()
    for label, total in samples["label"].value_counts().items():
        assert table.loc[label, "test"] == pytest.approx(0.1 * total, abs=1)
        assert table.loc[label, "val"] == pytest.approx(0.2 * total, abs=1)


def test_splits_are_disjoint_and_cover_everything(scan):
    samples = split_samples(scan, val_size=0.2, test_size=0.2, seed=0)
    assert len(samples) == len(scan.samples)
    assert samples["path"].is_unique
    assert set(samples["split"]) == {"train", "val", "test"}


def test_same_seed_same_split_other_seed_other_split(scan):
    first = split_samples(scan, 0.2, 0.2, seed=7)
    again = split_samples(scan, 0.2, 0.2, seed=7)
    other = split_samples(scan, 0.2, 0.2, seed=8)
    pd.testing.assert_frame_equal(first, again)
    assert not first["split"].equals(other["split"])


def test_split_ignores_the_order_of_the_input(scan):
    shuffled = scan.samples.sample(frac=1, random_state=3).reset_index(drop=True)
    reordered = type(scan)(root=scan.root, classes=scan.classes, samples=shuffled)
    pd.testing.assert_frame_equal(split_samples(scan, 0.2, 0.2, 1), split_samples(reordered, 0.2, 0.2, 1))


def test_zero_test_size_gives_no_test_split(scan):
    samples = split_samples(scan, val_size=0.25, test_size=0.0, seed=0)
    assert set(samples["split"]) == {"train", "val"}


def test_presplit_without_val_carves_val_from_train_only(tmp_path):
    make_class_folder(tmp_path / "train", {"a": 10, "b": 10}, size=4)
    make_class_folder(tmp_path / "test", {"a": 3, "b": 3}, size=4)
    samples = split_samples(scan_folder(tmp_path), val_size=0.2, test_size=0.5, seed=0)
    assert samples.groupby("split").size().to_dict() == {"test": 6, "train": 16, "val": 4}
    assert samples.loc[samples["split"] == "val", "path"].str.startswith("train/").all()


def test_class_with_one_image_is_named(tmp_path):
    scan = scan_folder(make_class_folder(tmp_path, {"many": 10, "lonely": 1}, size=4))
    with pytest.raises(UserError, match="lonely"):
        split_samples(scan, 0.2, 0.2, seed=0)


def test_splits_csv_has_class_names(scan, tmp_path):
    samples = split_samples(scan, 0.2, 0.2, seed=0)
    write_splits(samples, scan.classes, tmp_path / "splits.csv")
    written = pd.read_csv(tmp_path / "splits.csv")
    assert list(written.columns) == ["path", "label", "class", "split"]
    assert (written["class"] == [scan.classes[i] for i in written["label"]]).all()
