"""``--cache-images``: every image decoded and resized once, into one ``uint8`` array all processes share.

A pipeline splits into its deterministic prefix (decoding, then the leading resize) and the rest (augmentation,
which still draws anew every epoch, then normalisation and the tensor). The prefix's output for every image of the
run is written once to a ``.npy`` file of shape (N, H, W, 3); each process maps it read-only with
``np.load(mmap_mode="r")``, so the operating system keeps one copy in memory however many DataLoader workers and
DDP processes read it (a ``/dev/shm`` file is that copy itself; see :mod:`litcls.data.cache_place`).

The file's name is a digest of what its pixels depend on: the folder, every image's path, size, modification and
change times (the scan index's file facts), the prefix's settings and the Pillow version. A changed image or
``--img-size`` gives another name, never a stale array. The first process of each machine writes the file
(atomically, through the loader's workers); the others wait for it. The rest of the pipeline sees the same pixels
as without the cache, so a run with the cache gives the same results as one without. Each process holds a shared
lock on the file it maps, so a sweep (:mod:`litcls.data.cache_sweep`) removes only files no live run uses.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import albumentations as A
import numpy as np
import PIL
import torch
from torch.utils.data import DataLoader

from litcls.data.cache_place import RAM_DIR, choose_place
from litcls.data.cache_sweep import hold, sweep_disk, sweep_ram, touch
from litcls.data.dataset import ImageDataset
from litcls.data.index import WAIT_ENV, scans_here, stat_files
from litcls.files import write_atomically
from litcls.processes import is_main_process

CACHE_VERSION = 1
IN_PROCESS_BELOW = 1000  # fewer images are decoded in this process: starting loader workers would cost more
# transforms that give every image the same output each time, whatever the seed: they may run before the cache
DETERMINISTIC = (A.Resize, A.LongestMaxSize, A.SmallestMaxSize, A.PadIfNeeded, A.CenterCrop)
_opened: dict[Path, np.ndarray] = {}
_held: dict[Path, BinaryIO] = {}  # a shared lock on each cache file this process maps (see litcls.data.cache_sweep)


def split_pipeline(pipeline: A.Compose) -> tuple[A.Compose, A.Compose]:
    """(deterministic prefix, the rest): the prefix is the leading run of resize, pad and centre-crop steps."""
    steps = list(pipeline.transforms)
    count = 0
    while count < len(steps) and isinstance(steps[count], DETERMINISTIC) and steps[count].p == 1:
        count += 1
    return A.Compose(steps[:count]), A.Compose(steps[count:])


def describe(prefix: A.Compose) -> str:
    return json.dumps(A.to_dict(prefix)["transform"], sort_keys=True, default=str)


class ImageCache:
    """The cached images of ``paths`` (rows in that order), made by the prefix ``description``."""

    def __init__(self, file: Path, paths: Sequence[str], description: str):
        self.file, self.description = file, description
        self.row = {path: row for row, path in enumerate(paths)}
        self.array = _open(file)

    def __getstate__(self) -> dict:  # a spawned worker maps the file itself instead of receiving a copy
        return {key: value for key, value in self.__dict__.items() if key != "array"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.array = _open(self.file)

    def wrap(self, dataset: ImageDataset) -> ImageDataset:
        """``dataset`` reading its images from the cache; unchanged when its pipeline's prefix is not the cached
        one or one of its images is not cached."""
        prefix, rest = split_pipeline(dataset.transform)
        if describe(prefix) != self.description or any(path not in self.row for path in dataset.paths):
            return dataset
        return CachedImageDataset(dataset, self, rest)


class CachedImageDataset(ImageDataset):
    """An :class:`ImageDataset` whose images come decoded and resized from an :class:`ImageCache`."""

    def __init__(self, dataset: ImageDataset, cache: ImageCache, rest: A.Compose):
        labels = dataset.targets.numpy() if dataset.multi_label else dataset.labels
        super().__init__(dataset.root, dataset.paths, labels, rest, dataset.min_size, dataset.channels)
        self.cache = cache
        self.rows = np.array([cache.row[path] for path in dataset.paths], np.int64)

    def __getitem__(self, index: int):
        image = np.array(self.cache.array[self.rows[index]])  # a writable copy: transforms may work in place
        target = self.targets[index] if self.targets is not None else self.labels[index]
        return self.transform(image=image)["image"], target


def cache_key(root: Path, paths: Sequence[str], description: str, min_size: object) -> str:
    """Digest of everything the cached pixels depend on."""
    facts = stat_files(Path(root), paths)  # stat now: a listing moments old could miss an image just replaced
    stats = np.stack([facts.size, facts.mtime, facts.ctime], 1).astype("<i8")
    h = hashlib.sha256()
    for part in (str(CACHE_VERSION), str(Path(root).resolve()), "\0".join(paths), description, str(min_size),
                 PIL.__version__):
        h.update(part.encode("utf-8", "surrogateescape") + b"\1")
    h.update(stats.tobytes())
    return h.hexdigest()[:32]


def prepare_image_cache(mode: str, root: Path, paths: Sequence[str], pipeline: A.Compose,
                        min_size: int | tuple[int, int] | None, workers: int, channels: int = 3) -> ImageCache | None:
    """The cache for ``--cache-images mode`` over ``paths`` (None for ``none``), written here if missing.

    Args:
        mode: ``auto``, ``ram``, ``disk`` or ``none``.
        root: folder the paths are relative to.
        paths: every image the run reads.
        pipeline: a pipeline whose prefix makes the cached images (the evaluation pipeline).
        min_size: passed to the decoder (see :func:`litcls.data.decode.load_rgb`).
        workers: loader workers that decode while the cache is written.
        channels: 3 (RGB) or 1 (grey, ``--in-chans 1``), as the images are decoded.
    """
    if mode == "none" or not paths:
        return None
    prefix, _ = split_pipeline(pipeline)
    paths = list(dict.fromkeys(paths))
    first = ImageDataset(root, paths[:1], [0], prefix, min_size, channels)[0][0]
    estimate = len(paths) * first.nbytes
    taken, folder, line = choose_place(mode, estimate)
    if line and is_main_process():
        print(line, flush=True)
    if taken == "none":
        return None
    description = describe(prefix)
    file = folder / f"litcls-images-{cache_key(root, paths, description, (min_size, channels))}.npy"
    if scans_here():
        held = hold(file)  # a finished file is complete, whoever wrote it: held first, the sweep keeps it
        if taken == "ram":
            _say(sweep_ram(folder))  # before writing: what dead runs left may be what this run needs room for
        if held is None:
            held = _write_held(file, root, paths, prefix, min_size, workers, first.shape, channels)
            if taken == "disk":
                _say(sweep_disk(folder))  # a new file is when the folder grows: those no run used lately go
        touch(file)
        _held[file] = held
        if taken == "ram" and folder == RAM_DIR:
            atexit.register(file.unlink, missing_ok=True)  # the processes still running keep their mapping
    else:
        _held[file] = _wait_for(file)
    return ImageCache(file, paths, description)


def _stack(batch: list) -> np.ndarray:
    return np.stack([image for image, _ in batch])


def _write(tmp: Path, root: Path, paths: list[str], prefix: A.Compose, min_size: int | tuple[int, int] | None,
           workers: int, shape: tuple[int, ...], channels: int = 3) -> None:
    array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), *shape))
    loader = DataLoader(ImageDataset(root, paths, [0] * len(paths), prefix, min_size, channels), batch_size=64,
                        num_workers=workers if len(paths) >= IN_PROCESS_BELOW else 0, collate_fn=_stack,
                        generator=torch.Generator())  # its own generator: the run's random state stays untouched
    start = 0
    for images in loader:
        if images.shape[1:] != shape:
            raise ValueError(f"the cached pipeline gives images of shape {images.shape[1:]} and {shape}")
        array[start:start + len(images)] = images
        start += len(images)
    array.flush()
    del array


def _write_held(file: Path, *args) -> BinaryIO:
    """Write the cache ``file`` (see :func:`_write` for ``args``); return it held, as it was from its creation on (a
    lock follows the file through the rename), so no sweep removes it before this process maps it."""
    held = []

    def write(tmp: Path) -> None:
        held.append(hold(tmp, create=True))
        _write(tmp, *args)

    write_atomically(file, write)
    return held[0]


def _say(line: str) -> None:
    if line:
        print(line, flush=True)


def _wait_for(file: Path) -> BinaryIO:
    """In a process that does not write the cache: wait for the first process of the machine to write it; return
    it held."""
    deadline = time.monotonic() + float(os.environ.get(WAIT_ENV, 3600))
    while (held := hold(file)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{file} was not written within ${WAIT_ENV} seconds by the first process")
        time.sleep(0.5)
    return held


def _open(file: Path) -> np.ndarray:
    """``file`` mapped read-only, held by this process for as long as it lives."""
    if file not in _opened:
        if file not in _held:  # a spawned worker: its parent holds the file, so it is there
            _held[file] = hold(file)
            if _held[file] is None:
                raise FileNotFoundError(f"the image cache {file} was removed")
        _opened[file] = np.load(file, mmap_mode="r")
    return _opened[file]
