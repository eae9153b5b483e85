"""Write a sample table and its images as a LitData optimized dataset (``litdata.optimize``).

Each image is stored as the bytes of its file, undecoded and unresized: the stream is the folder in another
container, so any image size, augmentation or model can train from it, and it is no larger than the images.
Beside the bytes every item holds its row number, label, path, group, given split and the other columns
(as JSON), so a chunk read on its own still says what it holds.

The items are written in a shuffled order (fixed, from :data:`WRITE_SEED`), as streaming formats advise: a split
is streamed as runs of consecutive items (see :mod:`litcls.data.stream.images`), and in the source's order a run
would hold one class (a folder lists its classes one after the other), so batches would be far from random even
after LitData shuffles the runs. LitData keeps the given order (``keep_data_ordered``, no reordering by file size);
the table records each row's position.
"""

from __future__ import annotations

import functools
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from litcls.data.samples import SampleTable
from litcls.data.stream.table import write_table
from litcls.errors import UserError

WRITE_SEED = 0
# LitData starts its workers with spawn by default: each imports torch again, which cost more than writing 2,000
# images on the bench machine (64 s against 2 s forked). Nothing here holds threads when it forks.
START_METHOD = "fork" if sys.platform == "linux" else None
CHUNK_BYTES = "64MB"  # LitData's suggested chunk size for object storage
KNOWN_COLUMNS = ("path", "label", "split", "group")


def check_out(out: Path) -> None:
    """Refuse a ``--out`` that holds anything, before the source is read."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out}: already exists and is not empty; give a new folder (a stream is never "
                        "written over another one)")


def stream_items(samples: pd.DataFrame) -> list[dict]:
    """One input per row for ``optimize``: everything but the image bytes, which the workers read."""
    extra = [column for column in samples.columns if column not in KNOWN_COLUMNS]
    group = samples["group"].astype(str) if "group" in samples else pd.Series("", index=samples.index)
    metadata = samples[extra].astype(str).to_dict(orient="records") if extra else [{}] * len(samples)
    return [{"row": row, "path": path, "label": int(label), "split": str(split), "group": str(grp),
             "metadata": json.dumps(meta, ensure_ascii=False)}
            for row, (path, label, split, grp, meta) in enumerate(zip(samples["path"], samples["label"],
                                                                      samples["split"], group, metadata, strict=True))]


def with_image(root: Path, item: dict) -> dict:
    """An ``optimize`` worker's step: add the file's bytes to the row's fields."""
    return {**item, "image": (root / item["path"]).read_bytes()}


def write_stream(table: SampleTable, out: Path, source: str, duplicates: list[list[str]], workers: int = 1) -> int:
    """Write ``table``'s images and fields to ``out`` as LitData chunks, then the table itself; return the number
    of images. A failure leaves no folder that could be mistaken for a finished stream."""
    from litdata import optimize

    check_out(out)
    order = np.random.default_rng(WRITE_SEED).permutation(len(table.samples))  # position -> row
    positions = np.empty_like(order)
    positions[order] = np.arange(len(order))
    items = stream_items(table.samples)
    try:
        optimize(fn=functools.partial(with_image, table.root), inputs=[items[row] for row in order],
                 output_dir=str(out.resolve()), chunk_bytes=CHUNK_BYTES, num_workers=max(1, workers),
                 keep_data_ordered=True, reorder_files=False, mode="overwrite", verbose=False,
                 start_method=START_METHOD)
        check_order(out, order.tolist())
        write_table(out, table, source, duplicates, positions.tolist())
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return len(table.samples)


def check_order(out: Path, order: list[int]) -> None:
    """The first and last item of every chunk hold the row given at their position (LitData writes each worker's
    share in order and lists the workers' chunks by rank; this makes that a checked fact, not an assumption)."""
    from litdata import StreamingDataset

    chunks = json.loads((out / "index.json").read_text(encoding="utf-8"))["chunks"]
    dataset = StreamingDataset(str(out.resolve()))
    start = 0
    for chunk in chunks:
        for position in {start, start + chunk["chunk_size"] - 1}:
            if dataset[position]["row"] != order[position]:
                raise RuntimeError(f"LitData wrote row {dataset[position]['row']} at position {position} of {out}")
        start += chunk["chunk_size"]
    if start != len(order):
        raise RuntimeError(f"LitData wrote {start} items for {len(order)} rows in {out}")
