"""confusion_matrix.csv/.png and classification_report.csv of the evaluated split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
from lightning.pytorch.trainer.states import TrainerFn
from torchmetrics.classification import MulticlassConfusionMatrix

from litcls.report.classification import classification_report
from litcls.tracking import log_evaluation_tables, log_image


class ConfusionMatrixWriter(L.Callback):
    """Count (true, predicted) pairs of every evaluated image and write what they say.

    The counts live in a torchmetrics ``MulticlassConfusionMatrix``, summed across processes when computed,
    so each image of the split counts once whatever the number of devices (given a sampler that does not
    repeat images). After ``trainer.test`` (or ``trainer.validate`` outside fitting, for a run without a test
    split) it writes into ``run_dir``:

    * ``confusion_matrix.csv``: rows true class, columns predicted class, class names as headers;
    * ``confusion_matrix.png``: counts and row-normalised counts;
    * ``classification_report.csv``: precision, recall, F1 and support per class, macro, micro and weighted.

    The same report is kept in :attr:`report` for ``results.json``. With ``every_epoch`` the validation split
    of every training epoch is written under ``epochs/epoch_<n>/`` as well.

    Args:
        run_dir: the run folder.
        every_epoch: also write the validation confusion matrix after every training epoch.
    """

    def __init__(self, run_dir: str | Path, every_epoch: bool = False):
        self.run_dir = Path(run_dir)
        self.every_epoch = every_epoch
        self.report: dict[str, Any] | None = None
        self._counts = None  # MulticlassConfusionMatrix, created once the number of classes is known

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._counts is None or self._counts.num_classes != len(pl_module.class_names):
            self._counts = MulticlassConfusionMatrix(len(pl_module.class_names))

    def _counting(self, trainer: L.Trainer) -> bool:
        """Final evaluations always count; validation inside fit only with ``every_epoch``."""
        if trainer.sanity_checking or trainer.fast_dev_run:
            return False
        return trainer.state.fn in (TrainerFn.TESTING, TrainerFn.VALIDATING) or self.every_epoch

    def _start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._counts.reset()
        self._counts.to(pl_module.device)

    on_validation_epoch_start = _start
    on_test_epoch_start = _start

    def _update(self, trainer: L.Trainer, outputs: Any, batch: Any) -> None:
        if not self._counting(trainer):
            return
        if not (isinstance(outputs, dict) and "logits" in outputs):
            raise TypeError("ConfusionMatrixWriter needs validation_step and test_step to return "
                            "{'logits': logits}, as ClassifierModule does")
        self._counts.update(outputs["logits"].argmax(dim=1), batch[1])

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._update(trainer, outputs, batch)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._update(trainer, outputs, batch)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._counting(trainer):
            return
        if trainer.state.fn == TrainerFn.VALIDATING:
            self.report = self._write(trainer, pl_module, "val", self.run_dir)
        else:
            folder = self.run_dir / "epochs" / f"epoch_{trainer.current_epoch:03d}"
            self._write(trainer, pl_module, "val", folder)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._counting(trainer):
            self.report = self._write(trainer, pl_module, "test", self.run_dir)

    def _write(self, trainer: L.Trainer, pl_module: L.LightningModule, split: str, folder: Path) -> dict | None:
        """Sum the counts over processes (every rank must call this), then write on rank zero."""
        counts = self._counts.compute().cpu().numpy().astype(np.int64)
        if counts.sum() == 0:
            return None
        names = list(pl_module.class_names)
        report = classification_report(counts, names)
        if trainer.is_global_zero:
            from litcls.report.figures import plot_confusion_matrix

            folder.mkdir(parents=True, exist_ok=True)
            table = pd.DataFrame(counts, index=pd.Index(names, name="true / predicted"), columns=names)
            table.to_csv(folder / "confusion_matrix.csv", encoding="utf-8")
            report.to_csv(folder / "classification_report.csv", index=False, encoding="utf-8")
            title = f"{split} split" + ("" if folder == self.run_dir else f", epoch {trainer.current_epoch}")
            pixels = plot_confusion_matrix(counts, names, title, folder / "confusion_matrix.png")
            log_image(trainer.loggers, f"{split}/confusion_matrix", pixels, trainer.global_step)
            log_evaluation_tables(trainer.loggers, split, counts, names, report)
        return {"split": split, "rows": report.to_dict("records")}
