"""Byte-identical images: found once at scan time, reported when copies land in different splits.

A copy of a test image in the training split is the plainest leakage there is (scraped datasets are full of
them). Finding copies stays cheap: files are grouped by size, and only files of the same size are read, first
their first 64 KiB, then in full for those whose beginnings also agree. The sizes and digests come from the scan
index (:mod:`litcls.data.index`) for files unchanged since an earlier start.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from litcls.data import index
from litcls.data.folds import placement
from litcls.data.index import HEAD_BYTES
from litcls.data.samples import SampleTable
from litcls.tasks.multi_label import TARGET_PREFIX

_SHOWN = 10  # duplicate sets named in a warning; the rest are counted


def _same(rows: np.ndarray, keys: np.ndarray) -> list[np.ndarray]:
    """Buckets of ``rows`` whose ``keys`` (one row of bytes each) agree, keeping only buckets of two or more."""
    if rows.size < 2:
        return []
    keys = np.ascontiguousarray(keys).view(np.dtype((np.void, keys.dtype.itemsize * keys.shape[1]))).ravel()
    _, bucket, counts = np.unique(keys, return_inverse=True, return_counts=True)
    shared = counts[bucket] > 1
    rows, bucket = rows[shared], bucket[shared]
    order = np.argsort(bucket, kind="stable")
    rows, bucket = rows[order], bucket[order]
    return np.split(rows, np.flatnonzero(np.diff(bucket)) + 1) if rows.size else []


def find_duplicates(root: str | Path, paths: Iterable[str]) -> list[list[str]]:
    """Sets of byte-identical files among ``paths`` (relative to ``root``).

    Returns:
        Each set sorted by path, the sets sorted by their first path; empty when every file is unique.
    """
    root = Path(root)
    paths = paths.tolist() if hasattr(paths, "tolist") else list(paths)  # a Series iterates slowly
    facts, rows, listed_ns = index.facts_for(root, paths)
    rows = rows[facts.size[rows] >= 0]  # a file that cannot be stat'ed has no copy to find
    found = []
    for same_size in _same(rows, facts.size[rows, None].view(np.uint8).reshape(len(rows), -1)):
        heads = index.digests(root, facts, same_size, listed_ns, full=False)
        for same_head in _same(same_size, heads):
            if facts.size[same_head[0]] <= HEAD_BYTES:
                found.append(same_head)
            else:
                found += _same(same_head, index.digests(root, facts, same_head, listed_ns, full=True))
    return sorted(sorted(facts.paths[row] for row in group) for group in found)


def drop_duplicates(scan: SampleTable, duplicates: list[list[str]]) -> SampleTable:
    """The scan without the copies: the first path of every set stays (``--dedupe``), before any split."""
    copies = {path for group in duplicates for path in group[1:]}
    if copies:
        print(f"--dedupe: dropped {len(copies)} byte-identical copies of {len(duplicates)} image(s), keeping the "
              "first path of each")
    return dataclasses.replace(scan, samples=scan.samples[~scan.samples["path"].isin(copies)].reset_index(drop=True))


def warn_cross_split_duplicates(samples: pd.DataFrame, duplicates: list[list[str]]) -> list[list[str]]:
    """Warn about the sets of identical images that sit in different splits (or folds); return those sets."""
    where = dict(zip(samples["path"], placement(samples), strict=True))
    targets = [column for column in samples.columns if str(column).startswith(TARGET_PREFIX)]  # multi-label
    labels = samples[targets].fillna(-1).astype(str).agg("|".join, axis=1) if targets else samples["label"]
    label = dict(zip(samples["path"], labels, strict=True))
    leaking = [group for group in duplicates if len({where[path] for path in group}) > 1]
    if leaking:
        described = []
        for group in leaking[:_SHOWN]:
            note = " (different classes)" if len({label[path] for path in group}) > 1 else ""
            described.append(" = ".join(f"{path} ({where[path]})" for path in group) + note)
        more = f"; and {len(leaking) - _SHOWN} more sets" if len(leaking) > _SHOWN else ""
        warnings.warn(f"{len(leaking)} set(s) of byte-identical images sit in different splits, so the evaluation "
                      f"has seen training images: {'; '.join(described)}{more}. Use --dedupe to keep one copy of "
                      "each", stacklevel=2)
    return leaking
