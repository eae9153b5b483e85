"""Write a sample table and its images as a LitData optimized dataset.

Each image is stored as the bytes of its file, undecoded and unresized: the stream is the folder in another
container, so any image size, augmentation or model can train from it, and it is no larger than the images.
An item is a pair: the row's number, label, path, group, given split and other columns as one JSON text, so a
chunk read on its own still says what it holds, and the image's bytes. With the fields' texts made by pandas at
once and each file read by a plain ``open``, a pair took 47-78 us per item of the bench's small images where a
dict of the same two fields took 60-84 (and, with ``pathlib`` and a ``json.dumps`` per item, 101-134).

**Order.** A split is streamed as LitData's subset of the stream's items (see :mod:`litcls.data.stream.images`),
and LitData pays for every run of consecutive items in a subset as for a chunk of its own. The items are therefore
laid out by the split the stream expects to be trained with (``--seed``, ``--val-size``, ``--test-size`` as given
when writing, train.py's defaults otherwise): its training rows first, then validation, then test, so that split
streams as whole chunks. Within each part the order is shuffled (fixed, from :data:`WRITE_SEED`), as streaming
formats advise: in the source's order a run would hold one class (a folder lists its classes one after the other),
and batches would be far from random even after LitData shuffles. Another seed still trains from the same stream,
with its split's rows streamed as runs. The table records each row's position.

**Writers.** LitData's ``BinaryWriter`` (what ``litdata.optimize`` runs in each of its workers), one per forked
process (``--num-workers``, at least :data:`MIN_ITEMS_PER_WRITER` items each), each over a consecutive range of
positions, their indexes merged in that order. ``optimize`` itself hands every item through its worker queues,
about ten times the cost of writing it on small images (1.4 ms against 0.13 ms per image on the bench). On the
2-core bench machine two writers took 5.9-6.2 s for 200,000 small images against 9.9-10.9 s for one.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from litcls.data import index
from litcls.data.samples import SampleTable
from litcls.data.stream.table import item_fields, write_table
from litcls.errors import UserError
from litcls.tasks.multi_label import TARGET_PREFIX

WRITE_SEED = 0
MAX_CHUNK_BYTES = 64_000_000  # LitData's suggested chunk size for object storage
MIN_CHUNK_BYTES = 1_000_000
CHUNKS = 64  # a smaller stream is cut into about this many chunks (see chunk_bytes)
KNOWN_COLUMNS = ("path", "label", "split", "group")
SPLIT_ORDER = {"train": 0, "val": 1, "test": 2}
RANK_ENV = "DATA_OPTIMIZER_GLOBAL_RANK"  # LitData names a writer's chunks and partial index after this rank
MIN_ITEMS_PER_WRITER = 10_000  # fewer items per process are written in this one (a fork and a merge cost more)


def check_out(out: Path) -> None:
    """Refuse a ``--out`` that holds anything, before the source is read."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out}: already exists and is not empty; give a new folder (a stream is never "
                        "written over another one)")


def item_texts(samples: pd.DataFrame) -> list[str]:
    """Each row's fields as the JSON text its item holds (see :func:`item_fields`): its row number, path, label,
    given split, group and, as an object, the other columns (a multi-label table's targets are not repeated there:
    the stored table holds them). pandas writes them all at once, several times faster than one ``json.dumps``
    per row."""
    extra = [column for column in samples.columns
             if column not in KNOWN_COLUMNS and not str(column).startswith(TARGET_PREFIX)]
    fields = pd.DataFrame({
        "row": np.arange(len(samples)), "path": samples["path"].astype(str), "label": samples["label"].astype(int),
        "split": samples["split"].astype(str),
        "group": samples["group"].astype(str) if "group" in samples else "",
        "metadata": samples[extra].astype(str).to_dict(orient="records") if extra else [{}] * len(samples)})
    # (JSON escapes a newline inside a string, so lines are rows; str.splitlines would also cut at U+2028 and kin)
    return fields.to_json(orient="records", lines=True, force_ascii=False).split("\n")[:len(samples)]


def write_order(samples: pd.DataFrame, split: pd.DataFrame | None) -> np.ndarray:
    """position -> row: shuffled from :data:`WRITE_SEED`, then (stably) the rows of ``split``'s train, val and test
    in that order. ``split`` is a split sample table (rows keyed by ``path``); None keeps the shuffled order."""
    order = np.random.default_rng(WRITE_SEED).permutation(len(samples))
    if split is None:
        return order
    ranks = split["split"].map(SPLIT_ORDER).to_numpy()[pd.Index(split["path"]).get_indexer(samples["path"])]
    return order[np.argsort(ranks[order], kind="stable")]


def write_stream(table: SampleTable, out: Path, source: str, duplicates: list[list[str]],
                 split: pd.DataFrame | None = None, workers: int = 1) -> int:
    """Write ``table``'s images and fields to ``out`` as LitData chunks laid out for ``split`` (see
    :func:`write_order`), on up to ``workers`` processes, then the table itself; return the number of images. A
    failure leaves no folder that could be mistaken for a finished stream."""
    from litdata.streaming.writer import BinaryWriter

    check_out(out)
    order = write_order(table.samples, split)
    positions = np.empty_like(order)
    positions[order] = np.arange(len(order))
    items = Items(os.fspath(table.root), table.samples["path"].astype(str).tolist(), item_texts(table.samples),
                  order.tolist(), str(out.resolve()), chunk_bytes(table))
    writers = max(1, min(workers, os.cpu_count() or 1, len(order) // MIN_ITEMS_PER_WRITER))
    if "fork" not in multiprocessing.get_all_start_methods():  # a spawned writer would not inherit the items
        writers = 1
    parts = np.array_split(np.arange(len(order)), writers)
    out.mkdir(parents=True, exist_ok=True)
    try:
        pool = index.worker_pool(writers)  # forked: the items are shared, not pickled, and torch not re-imported
        if pool is None:
            write_part(items, 0, 0, len(order))
        else:
            global _shared
            _shared = items
            try:
                with pool:
                    for done in [pool.submit(_write_shared_part, rank, int(part[0]), int(part[-1]) + 1)
                                 for rank, part in enumerate(parts)]:
                        done.result()
            finally:
                _shared = None
        BinaryWriter(items.out, chunk_bytes=items.chunk_bytes).merge(num_workers=len(parts))
        check_order(out, items.order)
        write_table(out, table, source, duplicates, positions.tolist())
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return len(table.samples)


@dataclass(frozen=True)
class Items:
    """What the writers write: in the order of ``order`` (position -> row), each row's fields text and the bytes
    of its file under ``root``."""

    root: str
    paths: list[str]
    texts: list[str]
    order: list[int]
    out: str
    chunk_bytes: int


_shared: Items | None = None  # the items a forked writer process inherits (set only while they run)


def _write_shared_part(rank: int, start: int, end: int) -> None:
    write_part(_shared, rank, start, end)


def write_part(items: Items, rank: int, start: int, end: int) -> None:
    """Positions ``start`` to ``end`` as one writer's chunks (``chunk-<rank>-*.bin``) and partial index, which
    :meth:`BinaryWriter.merge` joins in the order of the ranks."""
    from litdata.streaming.writer import BinaryWriter

    os.environ[RANK_ENV] = str(rank)
    try:
        # (its one message, the field types it inferred, goes to a queue nobody reads instead of the terminal)
        writer = BinaryWriter(items.out, chunk_bytes=items.chunk_bytes, msg_queue=queue.SimpleQueue())
        for local, row in enumerate(items.order[start:end]):
            path = os.path.join(items.root, items.paths[row])
            try:
                with open(path, "rb", buffering=0) as file:  # (pathlib cost a fifth of the loop, a buffer 5 us)
                    data = file.readall()
            except OSError as err:
                raise UserError(f"cannot read {path} ({err.strerror or err}): it changed after the folder was "
                                "scanned; run the command again") from None
            writer[local] = (items.texts[row], data)
        writer.done()
    finally:
        del os.environ[RANK_ENV]


def chunk_bytes(table: SampleTable) -> int:
    """LitData's 64 MB chunks, or smaller ones for a stream under 64 chunks of that size (from the mean size of up
    to 256 of its files), down to 1 MB. LitData's loader workers that share a chunk read it without a memory map,
    several times slower (4x with 2 workers on the bench), so a stream needs many more chunks than workers."""
    paths = table.samples["path"].tolist()
    sizes = [size for path in paths[::max(1, len(paths) // 256)] if (size := _size(table.root / path)) is not None]
    total = sum(sizes) / max(1, len(sizes)) * len(paths)
    return int(min(MAX_CHUNK_BYTES, max(MIN_CHUNK_BYTES, total / CHUNKS)))


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:  # gone since the scan: the writer says so when it reads it
        return None


def check_order(out: Path, order: list[int]) -> None:
    """The first and last item of every chunk hold the row given at their position (a checked fact, not an
    assumption about how LitData numbers items across chunks and writers)."""
    from litdata import StreamingDataset

    chunks = json.loads((out / "index.json").read_text(encoding="utf-8"))["chunks"]
    dataset = StreamingDataset(str(out.resolve()))
    start = 0
    for chunk in chunks:
        for position in {start, start + chunk["chunk_size"] - 1}:
            row = item_fields(dataset[position])["row"]
            if row != order[position]:
                raise RuntimeError(f"LitData wrote row {row} at position {position} of {out}")
        start += chunk["chunk_size"]
    if start != len(order):
        raise RuntimeError(f"LitData wrote {start} items for {len(order)} rows in {out}")
