import unicodedata

import pytest

from conftest import make_class_folder, write_images
from litcls.data.scan import scan_folder
from litcls.errors import UserError


def test_class_folders_sorted_and_labelled(tmp_path):
    make_class_folder(tmp_path, {"zebra": 2, "ant": 3, "mole": 1})
    scan = scan_folder(tmp_path)
    assert scan.classes == ["ant", "mole", "zebra"]
    assert not scan.presplit
    counts = scan.samples["label"].value_counts().to_dict()
    assert counts == {0: 3, 1: 1, 2: 2}
    assert scan.samples["path"].str.startswith(("ant/", "mole/", "zebra/")).all()


def test_extensions_match_case_insensitively_and_junk_is_ignored(tmp_path):
    write_images(tmp_path / "a", 1, (0, 0, 0), ext=".PNG")
    write_images(tmp_path / "a", 1, (0, 0, 0), ext=".Jpg", prefix="photo")
    write_images(tmp_path / "b", 1, (9, 9, 9), ext=".jpeg")
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    (tmp_path / "a" / ".DS_Store").write_bytes(b"\0\1")
    (tmp_path / ".hidden").mkdir()
    write_images(tmp_path / ".hidden", 1, (0, 0, 0))
    scan = scan_folder(tmp_path)
    assert scan.classes == ["a", "b"]
    assert sorted(scan.samples["path"]) == ["a/img_000.PNG", "a/photo_000.Jpg", "b/img_000.jpeg"]


def test_images_in_nested_subfolders_belong_to_their_class(tmp_path):
    write_images(tmp_path / "cat" / "patient_1", 2, (0, 0, 0))
    write_images(tmp_path / "dog", 1, (0, 0, 0))
    scan = scan_folder(tmp_path)
    assert sorted(scan.samples["path"]) == ["cat/patient_1/img_000.png", "cat/patient_1/img_001.png",
                                            "dog/img_000.png"]


def test_presplit_layout(tmp_path):
    make_class_folder(tmp_path / "train", {"cat": 4, "dog": 4})
    make_class_folder(tmp_path / "valid", {"cat": 2, "dog": 2})
    make_class_folder(tmp_path / "test", {"cat": 1, "dog": 3})
    scan = scan_folder(tmp_path)
    assert scan.presplit
    assert scan.classes == ["cat", "dog"]
    by_split = scan.samples.groupby("split").size().to_dict()
    assert by_split == {"test": 4, "train": 8, "val": 4}
    assert scan.samples.loc[scan.samples["split"] == "val", "path"].str.startswith("valid/").all()


def test_presplit_class_missing_from_train_is_named(tmp_path):
    make_class_folder(tmp_path / "train", {"cat": 2, "dog": 2})
    make_class_folder(tmp_path / "test", {"cat": 1, "wolf": 1})
    with pytest.raises(UserError, match="wolf"):
        scan_folder(tmp_path)


def test_unicode_class_names_are_normalised(tmp_path):
    decomposed = unicodedata.normalize("NFD", "café")
    make_class_folder(tmp_path, {decomposed: 1, "고양이": 1, "개": 1})
    scan = scan_folder(tmp_path)
    assert scan.classes == sorted(["café", "고양이", "개"])
    assert "café" in scan.classes


@pytest.mark.parametrize("counts", [{}, {"only": 3}])
def test_fewer_than_two_classes_is_refused(tmp_path, counts):
    make_class_folder(tmp_path, counts)
    (tmp_path / "empty_class").mkdir()
    with pytest.warns(UserWarning, match="empty_class"), pytest.raises(UserError, match="at least two class"):
        scan_folder(tmp_path)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(UserError, match="no such folder: .*nowhere"):
        scan_folder(tmp_path / "nowhere")
