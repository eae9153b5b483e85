"""Read what the real wandb client wrote for an offline run (its ``run-<id>.wandb`` record log).

The file is a sequence of protobuf ``Record`` messages in W&B's LevelDB-style log: a 7-byte header
(":W&B", magic, version), then 32 KiB blocks of chunks, each with a 7-byte header (CRC32, length, type:
1 full, 2 first, 3 middle, 4 last). The wandb package ships the protobuf classes but no Python reader.
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import DecodeError
from wandb.proto import wandb_internal_pb2

BLOCK = 32 * 1024
HEADER = 7


def _records(path: Path):
    data = path.read_bytes()
    ident, _magic, _version = struct.unpack("<4sHB", data[:HEADER])
    assert ident == b":W&B", f"{path} is not a W&B record log"
    pos, pending = HEADER, b""
    while pos + HEADER <= len(data):
        room = BLOCK - pos % BLOCK
        if room < HEADER:  # the rest of a block too small for a chunk header is padding
            pos += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        if kind == 0:
            pos += room
            continue
        chunk, pos = data[pos + HEADER:pos + HEADER + length], pos + HEADER + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def _items(items) -> dict:
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


@dataclass
class OfflineRun:
    """History rows, merged config and summary, and artifact names of one offline run."""

    history: list[dict] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    job_type: str = ""
    group: str = ""
    exit_code: int | None = None


def read_offline_run(run_dir: Path, timeout: float = 60) -> OfflineRun:
    """``run_dir`` is a ``wandb/offline-run-*`` folder.

    wandb's service process finishes writing the record log after ``wandb.finish()`` returns (seconds later when
    images were logged), so this waits up to ``timeout`` seconds for the run's exit record.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            run = _read(run_dir)
        except (struct.error, DecodeError):  # caught mid-write: the last record is not complete yet
            run = OfflineRun()
        if run.exit_code is not None or time.monotonic() > deadline:
            return _read(run_dir) if run.exit_code is None else run
        time.sleep(0.5)


def _read(run_dir: Path) -> OfflineRun:
    run = OfflineRun()
    for record in _records(next(run_dir.glob("run-*.wandb"))):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            run.history.append(_items(record.history.item))
        elif kind == "config":
            run.config.update(_items(record.config.update))
        elif kind == "summary":
            run.summary.update(_items(record.summary.update))
        elif kind == "artifact":
            run.artifacts.append(record.artifact.name)
        elif kind == "run":
            run.job_type, run.group = record.run.job_type, record.run.run_group
            run.config.update(_items(record.run.config.update))
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    return run
