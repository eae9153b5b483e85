"""A logger: every logged metric as one JSON line in ``<run folder>/events.jsonl``.

Nothing in the package changes: put this file on ``PYTHONPATH`` and train with
``python train.py --logger csv my_logger:JsonLinesLogger`` (several loggers are allowed; JSON keyword arguments go
after a second colon: ``my_logger:JsonLinesLogger:{"file_name": "log.jsonl"}``). A constructor that takes
``save_dir`` is given the run folder. The class must be a Lightning ``Logger``.
"""

import json
from pathlib import Path

from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only


class JsonLinesLogger(Logger):
    def __init__(self, save_dir: str, file_name: str = "events.jsonl"):
        super().__init__()
        self.file = Path(save_dir) / file_name

    @property
    def name(self) -> str:
        return "jsonl"

    @property
    def version(self) -> str:
        return ""

    @rank_zero_only
    def log_hyperparams(self, params: dict) -> None:
        self._write({"hyperparams": params})

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self._write({"step": step, **{key: float(value) for key, value in metrics.items()}})

    def _write(self, record: dict) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with self.file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, default=str) + "\n")
