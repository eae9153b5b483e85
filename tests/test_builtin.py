import struct

import numpy as np
import pytest
import torchvision.datasets

from litcls.data.builtin import DATA_HOME_ENV, resolve_data
from litcls.data.scan import scan_folder
from litcls.errors import UserError


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_HOME_ENV, str(tmp_path / "data"))
    return tmp_path / "data"


def test_digits_are_written_once_as_png_class_folders(data_home):
    folder = resolve_data("digits")
    assert folder == data_home / "digits"
    scan = scan_folder(folder)
    assert scan.classes == [str(d) for d in range(10)]
    assert len(scan.samples) == 1797
    first = folder / scan.samples["path"][0]
    stamp = first.stat().st_mtime_ns
    assert resolve_data("digits") == folder and first.stat().st_mtime_ns == stamp
    assert not [p for p in data_home.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_an_existing_folder_wins_over_a_builtin_name(tmp_path, monkeypatch):
    (tmp_path / "digits").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_data("digits").resolve() == tmp_path / "digits"
    assert not (tmp_path / "data").exists()


def _write_idx(path, array: np.ndarray) -> None:
    magic = 0x0800 + {1: 1, 3: 3}[array.ndim]
    path.write_bytes(struct.pack(f">{1 + array.ndim}i", magic | 0x08 << 8, *array.shape) + array.tobytes())


def test_mnist_from_files_placed_where_torchvision_expects_them(data_home):
    raw = data_home / "downloads" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 6), ("t10k", 4)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8) % 2)
    scan = scan_folder(resolve_data("mnist"))
    assert scan.presplit
    assert scan.samples.groupby("split").size().to_dict() == {"test": 4, "train": 6}
    assert scan.classes == ["0 - zero", "1 - one"]


def test_missing_download_says_what_to_do(monkeypatch, data_home):
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", ["file:///nonexistent-mirror/"])
    with pytest.raises(UserError, match=r"could not download MNIST .*place torchvision's MNIST files under"):
        resolve_data("mnist")
    assert not (data_home / "mnist").exists()
