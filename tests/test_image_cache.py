"""``--cache-images``: the cached pixels are the uncached ones, a changed image or size is never served stale,
one mapped copy serves every worker, a cache that cannot be made stops with one line, and what a killed run left in
shared memory or no run used on disk for a month is removed, never a file a live process holds."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, make_class_folder, run_cli, run_main
from litcls.data import cache_place
from litcls.data.cache_sweep import DISK_UNUSED_DAYS, hold, remove_if_unused, remove_unused
from litcls.data.dataset import ImageDataset
from litcls.data.image_cache import CachedImageDataset, prepare_image_cache, split_pipeline
from litcls.data.scan import scan_folder
from litcls.data.transforms import Preprocessing, eval_transform, seed_augmentation, train_transform
from litcls.errors import UserError


@pytest.fixture
def folder(tmp_path):
    return make_class_folder(tmp_path / "shapes", {"circle": 6, "square": 6}, size=24, ext=".jpg")


def _paths(root: Path) -> list[str]:
    return scan_folder(root).samples["path"].tolist()


def test_split_pipeline_keeps_the_resize_before_the_cache_and_augmentation_after():
    prefix, rest = split_pipeline(train_transform(Preprocessing(16), "light"))
    assert [type(t).__name__ for t in prefix.transforms] == ["Resize"]
    assert [type(t).__name__ for t in rest.transforms] == ["Compose", "Normalize", "ToTensorV2"]


def test_cached_images_give_the_same_tensors_as_decoding_with_augmentation_seeded_alike(folder):
    paths, pre = _paths(folder), Preprocessing(16)
    cache = prepare_image_cache("disk", folder, paths, eval_transform(pre), 16, workers=0)
    plain = ImageDataset(folder, paths, [0] * len(paths), train_transform(pre, "light"), min_size=16)
    cached = cache.wrap(ImageDataset(folder, paths, [0] * len(paths), train_transform(pre, "light"), min_size=16))
    assert isinstance(cached, CachedImageDataset)
    seed_augmentation(plain.transform, 3)
    seed_augmentation(cached.transform, 3)
    for index in range(len(paths)):
        assert torch.equal(plain[index][0], cached[index][0])


def test_a_changed_image_or_size_gets_a_new_cache_file_never_the_stale_one(folder):
    paths, pre = _paths(folder), Preprocessing(16)
    first = prepare_image_cache("disk", folder, paths, eval_transform(pre), 16, workers=0)
    assert first.file.parent == Path(os.environ["LITCLS_CACHE"]) / "images"
    again = prepare_image_cache("disk", folder, paths, eval_transform(pre), 16, workers=0)
    assert again.file == first.file
    Image.new("RGB", (24, 24), (255, 255, 255)).save(folder / paths[0])
    changed = prepare_image_cache("disk", folder, paths, eval_transform(pre), 16, workers=0)
    assert changed.file != first.file
    assert changed.array[0].min() == 255 and first.array[0].min() < 255
    resized = prepare_image_cache("disk", folder, paths, eval_transform(Preprocessing(8)), 8, workers=0)
    assert resized.file != changed.file and resized.array.shape == (len(paths), 8, 8, 3)


def test_a_worker_receives_the_mapped_file_not_a_copy_of_the_images(folder):
    paths = _paths(folder)
    cache = prepare_image_cache("disk", folder, paths, eval_transform(Preprocessing(64)), 64, workers=0)
    dataset = cache.wrap(ImageDataset(folder, paths, [0] * len(paths), eval_transform(Preprocessing(64))))
    sent = pickle.dumps(dataset)
    assert len(sent) < cache.array.nbytes / 10
    received = pickle.loads(sent)
    assert isinstance(received.cache.array, np.memmap) and torch.equal(received[5][0], dataset[5][0])


def test_auto_takes_ram_within_a_quarter_of_available_memory_else_none(monkeypatch):
    monkeypatch.setattr(cache_place, "available_memory", lambda: 4_000_000)
    assert cache_place.choose_place("auto", 1_000_000)[0] == "ram"
    taken, _, line = cache_place.choose_place("auto", 1_000_001)
    assert taken == "none" and "1.0 MB" in line and "budget of 1.0 MB" in line
    with pytest.raises(UserError, match="--cache-images ram: the decoded images take 5.0 MB but only 4.0 MB"):
        cache_place.choose_place("ram", 5_000_000)


TRAIN = ["--model", "cnn", "--img-size", "16", "--epochs", "1", "--augment", "none", "--num-workers", "1",
         "--batch-size", "8", "--logger", "csv", "--bootstrap", "0", "--gradcam-per-class", "0",
         "--gradcam-mistakes", "0", "--out-dir", "runs"]


def test_a_cached_run_gives_exactly_the_metrics_of_an_uncached_one_and_leaves_no_shared_memory(folder, tmp_path):
    shm_before = set(os.listdir("/dev/shm"))
    results = {}
    for mode in ("none", "ram"):  # the uncached run in this process; the cached one in its own, which must clean up
        args = ("train.py", "--data", str(tmp_path / "shapes"), *TRAIN, "--cache-images", mode, "--name", mode)
        done = run_main(*args, cwd=tmp_path) if mode == "none" else run_cli(*args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        results[mode] = json.loads((tmp_path / "runs" / mode / "results.json").read_text())
        results[mode].pop("seconds")
    assert "image cache: ram, " in done.stdout
    assert results["ram"] == results["none"]
    assert not {name for name in set(os.listdir("/dev/shm")) - shm_before if name.startswith("litcls-images-")}


def test_an_unwritable_cache_folder_stops_with_one_line_and_no_run_folder(folder, tmp_path, monkeypatch, capsys):
    from litcls.cli.train import main

    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("LITCLS_CACHE", str(tmp_path / "a-file" / "cache"))
    code = main(["--data", str(folder), "--model", "cnn", "--img-size", "16", "--cache-images", "disk",
                 "--out-dir", str(tmp_path / "runs"), "--logger", "csv", "--num-workers", "0"])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        f"error: --cache-images: cannot create the cache folder {tmp_path / 'a-file' / 'cache' / 'images'}")
    assert not any((tmp_path / "runs").iterdir())


HOLDER = ("import sys, time; from pathlib import Path; from litcls.data.cache_sweep import hold; "
          "held = [hold(Path(path), create=True) for path in sys.argv[1:]]; print('holding', flush=True); "
          "time.sleep(600)")


@contextmanager
def _held_by_another_process(*paths: Path):
    """A real python process holding ``paths`` as a run that maps them does, until the test kills it."""
    child = subprocess.Popen([sys.executable, "-c", HOLDER, *map(str, paths)], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    try:
        assert child.stdout.readline() == "holding\n"
        yield child
    finally:
        child.kill()
        child.wait()


def _kill(child: subprocess.Popen) -> None:
    os.kill(child.pid, signal.SIGKILL)  # no atexit, no finally: as the OOM killer or a crashed node ends a run
    child.wait()


def test_a_ram_cache_a_killed_run_left_is_removed_by_the_next_one_and_a_held_one_kept(folder, tmp_path, monkeypatch,
                                                                                      capsys):
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(cache_place, "RAM_DIR", shm)
    dead, writing, alive = (shm / "litcls-images-dead.npy", shm / ".litcls-images-dead.npy.1.0a1b2c3d.tmp",
                            shm / "litcls-images-alive.npy")
    for path in (dead, alive):
        np.save(path, np.ones(1_000_000, np.uint8))
    with _held_by_another_process(dead, writing) as child, hold(alive):
        assert remove_unused(shm) == (0, 0)
        _kill(child)
        cache = prepare_image_cache("ram", folder, _paths(folder), eval_transform(Preprocessing(16)), 16, workers=0)
        assert sorted(os.listdir(shm)) == sorted([alive.name, cache.file.name])
        assert remove_unused(shm) == (0, 0)  # this process maps the new cache: it is held too
    assert f"image cache: removed 2 file(s) that ended runs left in {shm}, freeing 1.0 MB of memory" in \
        capsys.readouterr().out


@pytest.mark.skipif(not cache_place.RAM_DIR.is_dir(), reason="no /dev/shm")
def test_in_dev_shm_a_file_is_kept_while_its_holder_lives_and_removed_once_it_was_killed():
    path = cache_place.RAM_DIR / f"litcls-images-test-{uuid.uuid4().hex}.npy"
    try:
        with _held_by_another_process(path) as holder:  # held from its creation: other jobs' sweeps keep it too
            path.write_bytes(bytes(100_000))
            assert remove_if_unused(path) is None and path.exists()
            _kill(holder)
            assert remove_if_unused(path) >= 100_000 and not path.exists()
    finally:
        path.unlink(missing_ok=True)


def test_a_new_disk_cache_removes_files_no_run_used_for_30_days_but_never_a_held_one(folder, tmp_path, monkeypatch,
                                                                                    capsys):
    monkeypatch.setenv("LITCLS_CACHE", str(tmp_path / "cache"))
    paths, pre = _paths(folder), Preprocessing(16)
    used = prepare_image_cache("disk", folder, paths, eval_transform(pre), 16, workers=0)
    images = used.file.parent
    old, held, recent = (images / f"litcls-images-{name}.npy" for name in ("old", "held", "recent"))
    writing = images / ".litcls-images-old.npy.1.0a1b2c3d.tmp"
    for path in (old, held, recent, writing):
        path.write_bytes(bytes(1_500_000))
    day = 86400
    for path, age in ((old, DISK_UNUSED_DAYS + 1), (writing, DISK_UNUSED_DAYS + 1), (held, 365),
                      (recent, DISK_UNUSED_DAYS - 1), (used.file, 365)):
        os.utime(path, (time.time() - age * day,) * 2)
    prepare_image_cache("disk", folder, paths, eval_transform(pre), 16, workers=0)  # a run uses it: touched
    assert used.file.stat().st_mtime > time.time() - 60 and old.exists()  # no new file, no sweep
    with hold(held):
        prepare_image_cache("disk", folder, paths, eval_transform(Preprocessing(8)), 8, workers=0)
    assert not old.exists() and not writing.exists() and held.exists() and recent.exists() and used.file.exists()
    assert (f"image cache: removed 2 file(s) of {images} no run used for {DISK_UNUSED_DAYS} days, freeing 3.0 MB of "
            "disk") in capsys.readouterr().out
