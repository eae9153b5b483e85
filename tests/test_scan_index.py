"""The scan index: a second start checks no image, only new or changed files are checked again, deleted ones drop
out, and an index that is damaged or belongs to another folder is never used."""

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, make_class_folder
from litcls.data import index, validate
from litcls.data.duplicates import find_duplicates
from litcls.data.scan import scan_folder
from test_hostile_folders import BROKEN, encoded


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    """Every scan here behaves as a new start: files written moments ago are trusted (they are checked again
    otherwise, see test_a_file_changed_just_before_the_scan_is_checked_again) and nothing is remembered."""
    monkeypatch.setattr(index, "RACY_NS", 0)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("SLURM_LOCALID", raising=False)
    index._recent.clear()
    yield
    index._recent.clear()


@pytest.fixture
def checked(monkeypatch):
    """The files check_image is asked about, relative to their data folder's parent (``d/a/img_000.png``)."""
    seen = []
    real = validate.check_image

    def counting(path, data=None):
        seen.append("/".join(Path(path).parts[-3:]))
        return real(path, data=data)

    monkeypatch.setattr(validate, "check_image", counting)
    return seen


@pytest.fixture
def folder(tmp_path):
    root = make_class_folder(tmp_path / "d", {"a": 4, "b": 4})
    (root / "b" / "broken.png").write_bytes(b"not an image")
    return root


def rescan(root):
    index._recent.clear()  # as in a new process
    with pytest.warns(UserWarning, match="broken.png: not an image"):  # warned on every start, from the index
        return scan_folder(root)


def test_a_second_scan_checks_no_image_and_keeps_the_skip_warning(folder, checked):
    first = rescan(folder)
    assert len(checked) == 9 and index.index_file(folder).exists()
    checked.clear()
    second = rescan(folder)
    assert checked == []
    assert second.samples.equals(first.samples) and second.skipped == first.skipped
    assert second.skipped == (("b/broken.png", "not an image, or a format PIL cannot read"),)


def test_only_changed_added_files_are_checked_and_deleted_ones_drop_out(folder, checked):
    rescan(folder)
    stat = (folder / "a" / "img_001.png").stat()
    os.utime(folder / "a" / "img_001.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # touched
    with open(folder / "b" / "img_002.png", "ab") as f:  # same mtime would not hide a new size
        f.write(b"\0")
    shutil.copy(folder / "a" / "img_000.png", folder / "a" / "new.png")
    (folder / "a" / "img_003.png").unlink()
    checked.clear()
    scan = rescan(folder)
    assert sorted(checked) == ["d/a/img_001.png", "d/a/new.png", "d/b/img_002.png"]
    assert "a/img_003.png" not in set(scan.samples["path"]) and "a/new.png" in set(scan.samples["path"])
    stored, _ = index.load(folder)
    assert "a/img_003.png" not in stored.paths and len(stored.paths) == 9
    checked.clear()
    rescan(folder)
    assert checked == []


def test_a_file_made_unreadable_is_found_again(folder, checked):
    rescan(folder)
    (folder / "a" / "img_002.png").write_bytes(b"\x89PNG broken")
    checked.clear()
    with pytest.warns(UserWarning, match=r"(?s)skipped 2 of 9.*a/img_002.png"):
        scan_folder(folder)
    assert checked == ["d/a/img_002.png"]


def test_another_folder_never_uses_the_index(folder, tmp_path, checked):
    rescan(folder)
    copy = shutil.copytree(folder, tmp_path / "copy")
    index.index_file(copy).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(index.index_file(folder), index.index_file(copy))  # as if the two folders' keys collided
    checked.clear()
    rescan(copy)
    assert len(checked) == 9


def test_a_damaged_index_is_ignored_and_rebuilt(folder, checked):
    rescan(folder)
    index.index_file(folder).write_bytes(b"PK\x03\x04 half a zip")
    checked.clear()
    index._recent.clear()
    with pytest.warns(UserWarning, match=r"ignored the scan index .*\.npz, which cannot be read"):
        rescan(folder)
    assert len(checked) == 9
    checked.clear()
    rescan(folder)
    assert checked == []


def test_a_file_changed_just_before_the_scan_is_checked_again(folder, checked, monkeypatch):
    monkeypatch.setattr(index, "RACY_NS", 2_000_000_000)  # the files were written moments ago
    rescan(folder)
    checked.clear()
    rescan(folder)
    assert len(checked) == 9


def test_a_file_list_reuses_verdicts_and_digests(folder, checked, monkeypatch):
    """What a manifest source does: check and compare the files a list names, without a folder scan."""
    paths = ["a/img_000.png", "a/img_001.png", "b/broken.png"]
    assert validate.find_unreadable(folder, paths) == [("b/broken.png", "not an image, or a format PIL cannot read")]
    index._recent.clear()
    checked.clear()
    hashed = []
    monkeypatch.setattr(index, "file_digest", lambda path, limit=None: hashed.append(path) or bytes(16))
    assert validate.find_unreadable(folder, paths)[0][0] == "b/broken.png"
    shutil.copy(folder / "a" / "img_000.png", folder / "b" / "copy.png")
    index._recent.clear()
    assert find_duplicates(folder, paths + ["b/copy.png"]) == []  # the copy has no digest yet: read it
    assert checked == [] and len(hashed) == 1


def test_checks_on_worker_processes_agree_with_one_process(folder, monkeypatch):
    rescan(folder)
    one, _ = index.load(folder)
    index.index_file(folder).unlink()
    monkeypatch.setattr(index, "PARALLEL_MIN", 1)
    index._recent.clear()
    with pytest.warns(UserWarning, match="broken.png"):
        scan_folder(folder, workers=2)
    two, _ = index.load(folder)
    assert two.paths == one.paths and two.rejected == one.rejected
    assert np.array_equal(two.head, one.head) and two.has_head.all()


def test_a_process_that_does_not_scan_waits_for_the_index(folder, tmp_path):
    """Under DDP the first process of a node checks the images; another (LOCAL_RANK 1) lists the folder, waits
    for the index and checks nothing itself."""
    script = textwrap.dedent(f"""
        import warnings
        from litcls.data import validate
        from litcls.data.scan import scan_folder
        def refuse(path, data=None):
            raise AssertionError(f"checked {{path}}")
        validate.check_image = refuse
        print("listed", flush=True)
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            scan = scan_folder({str(folder)!r})
        print("rows", len(scan.samples), scan.skipped[0][0])
    """)
    env = {**os.environ, "LOCAL_RANK": "1", "PYTHONPATH": str(REPO / "src")}
    waiter = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    assert waiter.stdout.readline().strip() == "listed"
    time.sleep(0.5)  # it lists the folder, finds no index and waits
    rescan(folder)  # the scanning process
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, err[-2000:]
    assert out.split() == ["rows", "8", "b/broken.png"]


def test_a_process_that_waits_too_long_checks_the_files_itself(folder, monkeypatch, checked):
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv(index.WAIT_ENV, "0.3")
    with pytest.warns(UserWarning, match=r"waited 0 s .*LITCLS_INDEX_WAIT.* for .*\.npz"):
        rescan(folder)
    assert len(checked) == 9


@pytest.mark.parametrize("name", sorted(BROKEN) + ["ok.jpg", "large.jpg", "ok.png"])
def test_the_check_gives_the_same_verdict_from_bytes_already_read(tmp_path, name):
    """The first scan reads a small file once, hashes it and checks the bytes: the verdict must not change."""
    data = BROKEN[name][0] if name in BROKEN else encoded(name[-3:].upper().replace("JPG", "JPEG"),
                                                           size=400 if name.startswith("large") else 16)
    (tmp_path / name).write_bytes(data)
    assert validate.check_image(tmp_path / name, data=data) == validate.check_image(tmp_path / name)
