"""Byte-identical images: found once at scan time, reported when copies land in different splits.

A copy of a test image in the training split is the plainest leakage there is (scraped datasets are full of
them). Finding copies stays cheap: files are grouped by size, and only files of the same size are read, first
their first 64 KiB, then in full for those whose beginnings also agree.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from litcls.data.folds import placement
from litcls.data.samples import SampleTable

HEAD_BYTES = 64 * 1024
_SHOWN = 10  # duplicate sets named in a warning; the rest are counted


def _digest(path: Path, limit: int | None = None) -> bytes:
    """BLAKE2b of the file's first ``limit`` bytes (all of it for None)."""
    with path.open("rb") as f:
        if limit is not None:
            return hashlib.blake2b(f.read(limit), digest_size=16).digest()
        return hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16)).digest()


def _same(paths: Iterable[str], key: Callable[[str], object]) -> list[list[str]]:
    """Buckets of ``paths`` that share ``key``, keeping only buckets of two or more."""
    buckets: dict[object, list[str]] = defaultdict(list)
    for path in paths:
        buckets[key(path)].append(path)
    return [bucket for bucket in buckets.values() if len(bucket) > 1]


def find_duplicates(root: str | Path, paths: Iterable[str]) -> list[list[str]]:
    """Sets of byte-identical files among ``paths`` (relative to ``root``).

    Returns:
        Each set sorted by path, the sets sorted by their first path; empty when every file is unique.
    """
    root = Path(root)
    found = []
    for same_size in _same(paths, lambda p: os.path.getsize(root / p)):
        size = os.path.getsize(root / same_size[0])
        for same_head in _same(same_size, lambda p: _digest(root / p, HEAD_BYTES)):
            found += [same_head] if size <= HEAD_BYTES else _same(same_head, lambda p: _digest(root / p))
    return sorted(sorted(group) for group in found)


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
    label = dict(zip(samples["path"], samples["label"], strict=True))
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
