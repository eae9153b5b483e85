"""metrics.csv: one row per epoch with every epoch-level metric, readable without any logger."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from litcls.files import write_atomically


class EpochMetricsTable(L.Callback):
    """Write ``epoch`` plus every logged ``stage/metric`` value of each finished epoch to ``path``.

    Rows of earlier epochs already in the file are kept when training resumes from a checkpoint; rows of
    the resumed epoch and later ones, written before the interruption, are replaced.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: list[dict[str, float]] = []

    @rank_zero_only
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # not on_fit_start: Lightning restores the epoch counter from a checkpoint after that hook
        if self.path.is_file() and trainer.current_epoch > 0:
            with self.path.open(encoding="utf-8", newline="") as f:
                self.rows = [row for row in csv.DictReader(f) if int(row["epoch"]) < trainer.current_epoch]

    @rank_zero_only
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        values = {key: float(f"{float(value):.6g}") for key, value in trainer.callback_metrics.items()
                  if "/" in key and not key.endswith("batch_loss")}
        self.rows.append({"epoch": trainer.current_epoch, **dict(sorted(values.items()))})
        columns = list(dict.fromkeys(key for row in self.rows for key in row))

        def write(temporary: Path) -> None:
            with temporary.open("w", encoding="utf-8", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=columns)
                writer.writeheader()
                writer.writerows(self.rows)

        write_atomically(self.path, write)  # a process killed while writing leaves the previous table, never half
