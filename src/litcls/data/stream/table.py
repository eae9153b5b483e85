"""The sample table stored beside the chunks, so a run on the stream rebuilds the same table the source gave.

The split is decided when training starts, from ``--seed`` (and ``--val-size``, ``--test-size``, ``--folds``), so
it cannot be baked into the chunks; what is stored is everything the split is computed from: the task, classes,
paths, labels (a multi-label table's target columns too), groups, given splits and metadata, in the order the source
listed them, and ``positions``: where each row's item is in the LitData dataset (the items are written in a shuffled
order, see :mod:`litcls.data.stream.write`; each item also carries its row number, checked when the stream is
written). A table without ``task`` (written before multi-label tables could be) is single-label.

``version`` changes whenever the layout does; a stream of another version is refused with the command that
rewrites it, rather than read wrongly.
"""

from __future__ import annotations

import functools
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from litcls.data.samples import SINGLE_LABEL, SampleTable
from litcls.data.stream.location import INDEX_FILE, TABLE_FILE, is_remote
from litcls.errors import UserError

FORMAT = "litcls-stream"
VERSION = 3  # 1: one LitData field per column; 2: a dict of fields and image (both before 2026-12-08)
REWRITE = "write it again with: python -m litcls.stream --data SOURCE --out {location}"


def item_fields(item: tuple[str, bytes]) -> dict:
    """A stored item's row number, label, path, group, given split and metadata (an item is the pair of these
    fields as JSON text and the image's bytes; see :mod:`litcls.data.stream.write`)."""
    return json.loads(item[0])


def item_image(item: tuple[str, bytes]) -> bytes:
    """A stored item's image file, as its bytes."""
    return item[1]


@dataclass(frozen=True)
class StoredTable:
    """What a stream holds besides its images.

    Attributes:
        table: the sample table (``root`` and ``stream`` are the stream's location).
        duplicates: the sets of byte-identical images the source held, found when the stream was written.
        source: the ``--data`` the stream was written from.
        positions: row -> its item's index in the LitData dataset.
    """

    table: SampleTable
    duplicates: list[list[str]]
    source: str
    positions: list[int]


def write_table(out: Path, table: SampleTable, source: str, duplicates: list[list[str]], positions: list[int]) -> None:
    """Written last, after the chunks: a folder without it is a stream whose writing did not finish. What
    :func:`read_table` gives back, as JSON; the samples are pandas' JSON text of the table, put in as it is (parsed
    and written again it cost a second more for 200,000 rows)."""
    head = {"format": FORMAT, "version": VERSION, "source": source, "task": table.task,
            "classes": list(table.classes), "skipped": [list(entry) for entry in table.skipped],
            "duplicates": duplicates, "positions": [int(position) for position in positions]}
    samples = table.samples.to_json(orient="table", index=False, force_ascii=False)
    text = json.dumps(head, ensure_ascii=False)[:-1] + ', "samples": ' + samples + "}"
    (out / TABLE_FILE).write_text(text, encoding="utf-8")


@functools.lru_cache(maxsize=4)  # the source, the duplicates check and the datamodule each ask once per run
def read_table(location: str) -> StoredTable:
    """The stored sample table and what comes with it.

    Raises:
        UserError: not an optimized dataset, not written by this tool or by another version of it, a bucket that
            cannot be read.
    """
    document = json.loads(_table_text(location))
    if document.get("format") != FORMAT:
        raise UserError(f"--data {location}: {TABLE_FILE} was not written by python -m litcls.stream; "
                        + REWRITE.format(location=location))
    if document.get("version") != VERSION:
        raise UserError(f"--data {location}: written by another version of litcls (stream format "
                        f"{document.get('version')}, this one reads {VERSION}); " + REWRITE.format(location=location))
    samples = pd.read_json(io.StringIO(json.dumps(document["samples"])), orient="table")
    samples["path"] = samples["path"].astype(str)
    table = SampleTable(root=Path(location), classes=document["classes"], samples=samples.reset_index(drop=True),
                        skipped=tuple(tuple(entry) for entry in document["skipped"]),
                        task=document.get("task", SINGLE_LABEL), stream=location)
    return StoredTable(table, document["duplicates"], document["source"], document["positions"])


def _table_text(location: str) -> str:
    if is_remote(location):
        return _download_table(location)
    folder = Path(location)
    if not (folder / INDEX_FILE).is_file():
        what = "its writing did not finish" if (folder / TABLE_FILE).is_file() else "it has no index.json"
        raise UserError(f"--data {location}: not a LitData optimized dataset ({what}); "
                        + REWRITE.format(location=location))
    if not (folder / TABLE_FILE).is_file():
        raise UserError(f"--data {location}: a LitData dataset without {TABLE_FILE}, so not written by python -m "
                        "litcls.stream (its classes, split and groups are unknown); "
                        + REWRITE.format(location=location))
    return (folder / TABLE_FILE).read_text(encoding="utf-8")


def _download_table(url: str) -> str:
    """Fetch the table file through LitData's own downloader (its credentials, its providers)."""
    check_credentials(url)
    from litdata.streaming.downloader import get_downloader

    remote = url.rstrip("/") + "/" + TABLE_FILE
    with tempfile.TemporaryDirectory() as cache:
        local = str(Path(cache) / TABLE_FILE)
        try:
            get_downloader(url, cache, []).download_file(remote, local)
            return Path(local).read_text(encoding="utf-8")
        except Exception as err:  # no network, no such bucket or object, access denied
            raise UserError(f"--data {url}: cannot read {remote} ({type(err).__name__}: {err}); check the URL, "
                            f"the network and your credentials, or copy the stream to a local folder and pass "
                            "that") from None


def check_credentials(url: str) -> None:
    """An S3 URL with no credentials anywhere boto3 looks fails in milliseconds here, not after its retries."""
    if not url.startswith("s3://"):
        return
    import boto3

    if boto3.Session().get_credentials() is None:
        raise UserError(f"--data {url}: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                        "(or AWS_PROFILE, or ~/.aws/credentials) and check the network, or copy the stream to a "
                        "local folder and pass that")
