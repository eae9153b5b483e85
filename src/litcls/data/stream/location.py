"""Whether ``--data`` names a stream, decided from the text and one directory listing (standard library only, so
the check runs before torch is imported)."""

from __future__ import annotations

from pathlib import Path

REMOTE_SCHEMES = ("s3://", "gs://", "gcs://", "azure://", "hf://")
INDEX_FILE = "index.json"  # LitData's chunk index, the mark of an optimized dataset
TABLE_FILE = "litcls-stream.json"  # the sample table and format version written beside it


def is_remote(data: str) -> bool:
    return data.startswith(REMOTE_SCHEMES)


def is_stream(data: str) -> bool:
    """A bucket URL, or a local folder holding LitData's index or this tool's table file."""
    if is_remote(data):
        return True
    folder = Path(data)
    return (folder / INDEX_FILE).is_file() or (folder / TABLE_FILE).is_file()
