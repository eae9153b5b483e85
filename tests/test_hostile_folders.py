"""Messy folders built from real files: broken images, OS clutter, odd names, disagreeing splits."""

import io
import os
import struct
import unicodedata
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import make_class_folder, write_images
from litcls.data.scan import scan_folder
from litcls.data.splits import split_samples
from litcls.data.validate import check_image
from litcls.errors import UserError


def encoded(fmt: str, size: int = 16, **kwargs) -> bytes:
    rng = np.random.default_rng(size)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


BROKEN = {
    "empty.png": (b"", "empty file"),
    "page.jpg": (b"<html><body>404 not found</body></html>", "not an image"),
    "cut.png": (encoded("PNG")[:200], "truncated"),
    "cut.jpg": (encoded("JPEG")[:-300], "truncated"),
    "cut_large.jpg": (encoded("JPEG", size=400)[:-2000], "truncated"),  # above the full-decode size
    "cut.gif": (encoded("GIF")[:-100], "truncated"),
    "cut.bmp": (encoded("BMP")[:-100], "truncated"),
    "cut.webp": (encoded("WEBP")[:-100], "cannot be decoded"),
    "bomb.png": (png_claiming(30000, 30000), "too large"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_files_are_rejected_with_a_reason(tmp_path, name):
    data, reason = BROKEN[name]
    path = tmp_path / name
    path.write_bytes(data)
    assert reason in check_image(path)


@pytest.mark.parametrize("name, data", [
    ("ok.png", encoded("PNG")), ("ok.jpg", encoded("JPEG")), ("large.jpg", encoded("JPEG", size=400)),
    ("progressive.jpg", encoded("JPEG", size=400, progressive=True)), ("ok.gif", encoded("GIF")),
    ("ok.bmp", encoded("BMP")), ("ok.webp", encoded("WEBP")), ("ok.tif", encoded("TIFF")),
    # a motion photo: a complete JPEG followed by a video, so the file does not end with the JPEG end marker
    ("motion.jpg", encoded("JPEG", size=400) + b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40),
    ("mislabelled.jpg", encoded("PNG")),  # PNG content, JPEG name: PIL reads the content
])
def test_valid_files_pass(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    assert check_image(path) is None


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_rejected(tmp_path):
    path = write_images(tmp_path, 1, (0, 0, 0))[0]
    path.chmod(0)
    assert check_image(path) == "permission denied"


def test_one_warning_lists_every_skipped_file_and_the_rest_is_used(tmp_path):
    make_class_folder(tmp_path, {"cat": 5, "dog": 5})
    for name, (data, _) in BROKEN.items():
        (tmp_path / "cat" / name).write_bytes(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scan = scan_folder(tmp_path)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert f"skipped {len(BROKEN)} of {10 + len(BROKEN)} image files" in messages[0]
    for name in BROKEN:
        assert f"cat/{name}" in messages[0]
    assert len(scan.samples) == 10
    assert sorted(path for path, _ in scan.skipped) == sorted(f"cat/{name}" for name in BROKEN)


def test_os_clutter_and_other_files_are_ignored_silently(tmp_path):
    make_class_folder(tmp_path, {"cat": 3, "dog": 3})
    for folder in (tmp_path, tmp_path / "cat"):
        (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
        (folder / "desktop.ini").write_text("[.ShellClassInfo]\n")
    (tmp_path / "cat" / "._img_000.png").write_bytes(b"\0\5\26\7AppleDouble")  # macOS resource fork
    (tmp_path / "cat" / "notes.txt").write_text("taken at the zoo")
    (tmp_path / "__MACOSX" / "cat").mkdir(parents=True)
    (tmp_path / "__MACOSX" / "cat" / "._img_001.png").write_bytes(b"\0\5\26\7")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all
        scan = scan_folder(tmp_path)
    assert scan.classes == ["cat", "dog"]
    assert len(scan.samples) == 6 and not scan.skipped


def test_class_left_without_readable_images_is_reported(tmp_path):
    make_class_folder(tmp_path, {"cat": 3, "dog": 3})
    (tmp_path / "owl").mkdir()
    (tmp_path / "owl" / "broken.jpg").write_bytes(b"")
    (tmp_path / "bat").mkdir()
    with pytest.warns(UserWarning) as caught:
        scan = scan_folder(tmp_path)
    text = "\n".join(str(w.message) for w in caught)
    assert "class folders without readable images are ignored: bat, owl" in text
    assert scan.classes == ["cat", "dog"]


def test_non_ascii_names_stored_decomposed_on_disk_stay_openable(tmp_path):
    decomposed = unicodedata.normalize("NFD", "café")
    write_images(tmp_path / decomposed, 2, (200, 0, 0), prefix=unicodedata.normalize("NFD", "crème"))
    write_images(tmp_path / "猫", 2, (0, 200, 0), prefix="写真")
    scan = scan_folder(tmp_path)
    assert scan.classes == ["café", "猫"]  # the class name in NFC, as typed on any machine
    for path in scan.samples["path"]:
        assert (tmp_path / path).is_file()  # the path as stored, so Linux can open it


def test_presplit_mismatch_names_the_class_and_spots_case_differences(tmp_path):
    make_class_folder(tmp_path / "train", {"Cat": 3, "dog": 3})
    make_class_folder(tmp_path / "val", {"cat": 2, "dog": 2})
    with pytest.raises(UserError, match=r"val has classes that train/ lacks: cat \(train/ has Cat"):
        scan_folder(tmp_path)


def test_presplit_class_missing_from_test_is_a_named_warning(tmp_path):
    make_class_folder(tmp_path / "train", {"cat": 3, "dog": 3, "owl": 3})
    make_class_folder(tmp_path / "test", {"cat": 2, "dog": 2})
    with pytest.warns(UserWarning, match="test has no images of: owl"):
        scan = scan_folder(tmp_path)
    assert scan.presplit and scan.classes == ["cat", "dog", "owl"]


def test_split_named_folders_among_class_folders_are_flagged(tmp_path):
    make_class_folder(tmp_path, {"train": 3, "bus": 3, "car": 3})
    with pytest.warns(UserWarning, match="train treated as class folders.*bus, car"):
        scan = scan_folder(tmp_path)
    assert scan.classes == ["bus", "car", "train"]


@pytest.mark.parametrize("counts, test_size, message", [
    ({"cat": 10, "dog": 2}, 0.2, r"dog \(2\): each class needs at least 3 images.*or use --test-size 0"),
    ({"cat": 10, "dog": 1}, 0.0, r"dog \(1\): each class needs at least 2 images, one for each of train and val"),
])
def test_too_few_images_to_split_stops_before_training(tmp_path, counts, test_size, message):
    scan = scan_folder(make_class_folder(tmp_path, counts, size=4))
    with pytest.raises(UserError, match=message):
        split_samples(scan, val_size=0.2, test_size=test_size, seed=0)


@pytest.mark.parametrize("num_workers", ["0", "1"])
def test_image_that_breaks_during_training_stops_the_run_naming_it(tmp_path, monkeypatch, capsys, num_workers):
    data = make_class_folder(tmp_path / "data", {"cat": 6, "dog": 6}, size=8)
    # a large BMP cut short: its header is fine, so the scan (which decodes small images only) keeps it
    (data / "cat" / "scan.bmp").write_bytes(encoded("BMP", size=300)[:-5000])
    monkeypatch.chdir(tmp_path)
    argv = ["--data", str(data), "--model", "linear", "--img-size", "8", "--batch-size", "16", "--epochs", "1",
            "--val-size", "0.5", "--test-size", "0", "--num-workers", num_workers, "--augment", "none"]
    from litcls.cli.train import main

    assert main(argv) == 2
    stderr = capsys.readouterr().err
    assert "DataLoader worker" not in stderr and "Original Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: cannot decode {data / 'cat' / 'scan.bmp'} (OSError")
    assert "replace it with a readable copy" in errors[0]  # the worker's traceback is not part of the message


@pytest.mark.slow
def test_messy_folder_trains_end_to_end_and_outputs_keep_non_ascii_names(tmp_path):
    from conftest import run_main

    data = tmp_path / "données"
    cafe = unicodedata.normalize("NFD", "café")  # as a Mac writes it
    write_images(data / cafe, 24, (200, 40, 40), prefix=unicodedata.normalize("NFD", "crème"))
    write_images(data / "猫", 4, (40, 200, 40), prefix="写真")  # 6x fewer: balanced by the sampler
    write_images(data / "Ωmega", 12, (40, 40, 200))
    (data / "猫" / "broken.jpg").write_bytes(encoded("JPEG")[:-300])
    (data / "猫" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (data / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    result = run_main("train.py", "--data", str(data), "--model", "mlp", "--img-size", "8", "--batch-size", "8",
                      "--epochs", "2", "--num-workers", "0", "--val-size", "0.25", "--test-size", "0.25",
                      "--balance", "sampler", "--name", "messy", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "skipped 1 of 41 image files that cannot be read" in result.stderr
    assert "猫/broken.jpg: truncated" in result.stderr
    # our warnings show their message only, not the file, line and code that raised them
    [line] = [line for line in result.stderr.splitlines() if "skipped 1 of 41" in line]
    assert line.startswith(f"warning: {data}: skipped 1 of 41 image files"), line
    assert "scan_folder(" not in result.stderr and "litcls/data" not in result.stderr, result.stderr
    run = tmp_path / "runs" / "messy"
    assert (run / "classes.json").read_text(encoding="utf-8").count("猫") == 1  # written as text, not \\u escapes
    assert json_load(run / "classes.json") == ["café", "Ωmega", "猫"]
    splits = pd_read(run / "splits.csv")
    assert set(splits["class"]) == {"café", "Ωmega", "猫"} and len(splits) == 40
    assert all((data / path).is_file() for path in splits["path"])  # paths as stored on disk
    skipped = pd_read(run / "skipped.csv")
    assert list(skipped["path"]) == ["猫/broken.jpg"] and skipped["reason"][0].startswith("truncated")
    assert list(pd_read(run / "metrics.csv")["epoch"]) == [0, 1]
    assert (run / "results.json").is_file()


def json_load(path):
    import json

    return json.loads(path.read_text(encoding="utf-8"))


def pd_read(path):
    import pandas as pd

    return pd.read_csv(path, encoding="utf-8")
