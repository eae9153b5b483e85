"""Byte-identical images: found cheaply, reported when they straddle splits, dropped with --dedupe."""

import shutil

import pytest

from conftest import make_class_folder
from litcls.config import TrainConfig
from litcls.data import duplicates as dup
from litcls.data import index
from litcls.data.scan import scan_folder
from litcls.data.splits import split_samples
from litcls.runs.crossval import kfold_samples
from litcls.runs.samples import load_data


@pytest.fixture
def folder(tmp_path):
    """Two classes of 10 distinct images; a/img_000 copied twice inside a/ and once into b/."""
    root = make_class_folder(tmp_path / "d", {"a": 10, "b": 10}, size=8)
    shutil.copy(root / "a" / "img_000.png", root / "a" / "copy_1.png")
    shutil.copy(root / "a" / "img_000.png", root / "a" / "sub_copy.png")
    shutil.copy(root / "a" / "img_000.png", root / "b" / "stray.png")
    return root


def test_identical_files_are_found_and_nothing_else(folder):
    scan = scan_folder(folder)
    assert dup.find_duplicates(folder, scan.samples["path"]) == [
        ["a/copy_1.png", "a/img_000.png", "a/sub_copy.png", "b/stray.png"]]


def test_only_files_of_equal_size_are_read(tmp_path, monkeypatch):
    for size in range(1, 6):
        (tmp_path / f"{size}.png").write_bytes(b"x" * size)
    read = []
    monkeypatch.setattr(index, "file_digest", lambda path, limit=None: read.append(path) or b"")
    assert dup.find_duplicates(tmp_path, [f"{size}.png" for size in range(1, 6)]) == []
    assert read == []


def test_large_files_equal_at_the_start_are_compared_in_full(tmp_path):
    head = bytes(range(256)) * (dup.HEAD_BYTES // 256)
    (tmp_path / "x.bmp").write_bytes(head + b"tail-1")
    (tmp_path / "y.bmp").write_bytes(head + b"tail-2")
    (tmp_path / "z.bmp").write_bytes(head + b"tail-1")
    assert dup.find_duplicates(tmp_path, ["x.bmp", "y.bmp", "z.bmp"]) == [["x.bmp", "z.bmp"]]


def test_copies_in_different_splits_are_reported_with_their_paths(folder):
    scan = scan_folder(folder)
    duplicates = dup.find_duplicates(folder, scan.samples["path"])
    samples = split_samples(scan, val_size=0.25, test_size=0.25, seed=0)
    with pytest.warns(UserWarning, match=r"1 set\(s\) of byte-identical images sit in different splits.*"
                                         r"a/copy_1.png \((train|val|test)\) = a/img_000.png.*b/stray.png "
                                         r"\((train|val|test)\) \(different classes\).*--dedupe"):
        assert dup.warn_cross_split_duplicates(samples, duplicates) == duplicates
    folds = kfold_samples(scan, folds=3, test_size=0.0, seed=0)
    with pytest.warns(UserWarning, match=r"\(pool fold \d\)"):
        dup.warn_cross_split_duplicates(folds, duplicates)


def test_copies_in_one_split_are_not_leakage(tmp_path, recwarn):
    root = make_class_folder(tmp_path / "d", {"a": 4, "b": 4}, size=8)
    shutil.copy(root / "a" / "img_000.png", root / "a" / "copy.png")
    scan = scan_folder(root)
    samples = scan.samples.assign(split="train")
    assert dup.warn_cross_split_duplicates(samples, dup.find_duplicates(root, samples["path"])) == []
    assert not recwarn.list


def test_dedupe_keeps_the_first_copy_before_splitting(folder, capsys):
    _, scan, duplicates = load_data(TrainConfig.of(data=str(folder), dedupe=True))
    assert duplicates == []
    assert len(scan.samples) == 20
    assert "a/img_000.png" not in set(scan.samples["path"]) and "a/copy_1.png" in set(scan.samples["path"])
    assert "dropped 3 byte-identical copies of 1 image(s)" in capsys.readouterr().out
    _, kept, found = load_data(TrainConfig.of(data=str(folder)))
    assert len(kept.samples) == 23 and len(found) == 1
