"""Write a sample table and its images as a LitData optimized dataset.

Each image is stored as the bytes of its file, undecoded and unresized: the stream is the folder in another
container, so any image size, augmentation or model can train from it, and it is no larger than the images.
An item is two fields: ``image``, those bytes, and ``fields``, a JSON object of the row's number, label, path,
group, given split and other columns, so a chunk read on its own still says what it holds (one text field costs
LitData half the time per item of one field each, on the bench).

**Order.** A split is streamed as LitData's subset of the stream's items (see :mod:`litcls.data.stream.images`),
and LitData pays for every run of consecutive items in a subset as for a chunk of its own. The items are therefore
laid out by the split the stream expects to be trained with (``--seed``, ``--val-size``, ``--test-size`` as given
when writing, train.py's defaults otherwise): its training rows first, then validation, then test, so that split
streams as whole chunks. Within each part the order is shuffled (fixed, from :data:`WRITE_SEED`), as streaming
formats advise: in the source's order a run would hold one class (a folder lists its classes one after the other),
and batches would be far from random even after LitData shuffles. Another seed still trains from the same stream,
with its split's rows streamed as runs. The table records each row's position.

**Writer.** LitData's ``BinaryWriter`` (what ``litdata.optimize`` runs in each of its workers) in this process:
``optimize`` hands every item through its worker queues, which cost about ten times the writing itself on small
images (1.4 ms against 0.13 ms per image on the bench); two writer processes over halves of the items, merged,
were no faster on the 2-core bench machine (each half took as long as the whole in one process) and cost seconds
more to start and merge.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from litcls.data.samples import SampleTable
from litcls.data.stream.table import item_fields, write_table
from litcls.errors import UserError

WRITE_SEED = 0
MAX_CHUNK_BYTES = 64_000_000  # LitData's suggested chunk size for object storage
MIN_CHUNK_BYTES = 1_000_000
CHUNKS = 64  # a smaller stream is cut into about this many chunks (see chunk_bytes)
KNOWN_COLUMNS = ("path", "label", "split", "group")
SPLIT_ORDER = {"train": 0, "val": 1, "test": 2}


def check_out(out: Path) -> None:
    """Refuse a ``--out`` that holds anything, before the source is read."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out}: already exists and is not empty; give a new folder (a stream is never "
                        "written over another one)")


def stream_items(samples: pd.DataFrame) -> list[dict]:
    """One item's ``fields`` per row (see :func:`item_fields`); the image bytes are read as they are written."""
    extra = [column for column in samples.columns if column not in KNOWN_COLUMNS]
    group = samples["group"].astype(str) if "group" in samples else pd.Series("", index=samples.index)
    metadata = samples[extra].astype(str).to_dict(orient="records") if extra else [{}] * len(samples)
    return [{"row": row, "path": path, "label": int(label), "split": str(split), "group": str(grp),
             "metadata": meta}
            for row, (path, label, split, grp, meta) in enumerate(zip(samples["path"], samples["label"],
                                                                      samples["split"], group, metadata, strict=True))]


def write_order(samples: pd.DataFrame, split: pd.DataFrame | None) -> np.ndarray:
    """position -> row: shuffled from :data:`WRITE_SEED`, then (stably) the rows of ``split``'s train, val and test
    in that order. ``split`` is a split sample table (rows keyed by ``path``); None keeps the shuffled order."""
    order = np.random.default_rng(WRITE_SEED).permutation(len(samples))
    if split is None:
        return order
    rank_of = dict(zip(split["path"], split["split"].map(SPLIT_ORDER), strict=True))
    ranks = samples["path"].map(rank_of).to_numpy()
    return order[np.argsort(ranks[order], kind="stable")]


def write_stream(table: SampleTable, out: Path, source: str, duplicates: list[list[str]],
                 split: pd.DataFrame | None = None) -> int:
    """Write ``table``'s images and fields to ``out`` as LitData chunks laid out for ``split`` (see
    :func:`write_order`), then the table itself; return the number of images. A failure leaves no folder that
    could be mistaken for a finished stream."""
    from litdata.streaming.writer import BinaryWriter

    check_out(out)
    order = write_order(table.samples, split)
    positions = np.empty_like(order)
    positions[order] = np.arange(len(order))
    items = stream_items(table.samples)
    out.mkdir(parents=True, exist_ok=True)
    try:
        writer = BinaryWriter(str(out.resolve()), chunk_bytes=chunk_bytes(table))
        for position, row in enumerate(order):
            item = items[row]
            writer[position] = {"fields": json.dumps(item, ensure_ascii=False),
                                "image": (table.root / item["path"]).read_bytes()}
        writer.done()
        writer.merge()
        check_order(out, order.tolist())
        write_table(out, table, source, duplicates, positions.tolist())
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return len(table.samples)


def chunk_bytes(table: SampleTable) -> int:
    """LitData's 64 MB chunks, or smaller ones for a stream under 64 chunks of that size (from the mean size of up
    to 256 of its files), down to 1 MB. LitData's loader workers that share a chunk read it without a memory map,
    several times slower (4x with 2 workers on the bench), so a stream needs many more chunks than workers."""
    paths = table.samples["path"].tolist()
    sample = paths[::max(1, len(paths) // 256)]
    total = sum((table.root / path).stat().st_size for path in sample) / max(1, len(sample)) * len(paths)
    return int(min(MAX_CHUNK_BYTES, max(MIN_CHUNK_BYTES, total / CHUNKS)))


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
