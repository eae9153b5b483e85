"""A CSV logger that survives being killed and continues its file when a run resumes.

A resumed run keeps the rows logged before the checkpoint's step and drops those logged after it (work the
interruption threw away, which the resumed run repeats). One gap remains after a SIGKILL: Lightning logs an
epoch's ``train/*`` averages just after the epoch-end checkpoint, so a process killed in those milliseconds
leaves that row out of ``logs/metrics.csv``; ``metrics.csv`` (:mod:`litcls.callbacks.metrics_table`) is written
before the checkpoint and has every epoch.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from litcls.files import write_atomically


class _RunWriter(ExperimentWriter):
    """Lightning's CSV writer, made safe to kill and to resume.

    * When a new metric appears, Lightning rewrites the file with a wider header by truncating it in place;
      a process killed at that moment lost every row. Here the file is replaced by a complete new one.
    * Lightning deletes an existing ``metrics.csv``; here the rows a resumed run logged before
      ``resume_step`` are kept (a last line cut short by a kill is dropped).
    """

    def __init__(self, log_dir: str, resume_step: int):
        self.resume_step = resume_step
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        columns, rows = _read_rows(path)
        self.metrics_keys = columns
        _write_rows(path, columns, [row for row in rows if int(row["step"]) < self.resume_step])

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        path = Path(self.metrics_file_path)
        _write_rows(path, fieldnames, _read_rows(path)[1])


def _read_rows(path: Path) -> tuple[list[str], list[dict]]:
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):  # a line cut short by a kill: "2,1" may be the start of "2,11,0.3"
        text = text[:text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def _write_rows(path: Path, columns: list[str], rows: list[dict]) -> None:
    def write(temporary: Path) -> None:
        with temporary.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    write_atomically(path, write)


class RunCSVLogger(CSVLogger):
    """``CSVLogger`` writing ``run_dir/logs/metrics.csv`` with :class:`_RunWriter`.

    Args:
        run_dir: the run folder.
        resume_step: the global step of the checkpoint a resumed run starts from (0 for a new run).
    """

    def __init__(self, run_dir: str | Path, resume_step: int = 0):
        super().__init__(save_dir=run_dir, name="logs", version="")
        self.resume_step = resume_step

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _RunWriter(self.log_dir, self.resume_step)
        return self._experiment
