"""Every evaluated image's logits, gathered from all processes, each image exactly once, in dataset order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.trainer.states import TrainerFn
from torchmetrics.utilities.distributed import gather_all_tensors

from litcls.evaluation.writer import write_split_report
from litcls.tracking.loggers import log_evaluation_tables, log_image


class PredictionCollector(L.Callback):
    """Keep the logits that ``validation_step``, ``test_step`` and ``predict_step`` hand to callbacks, for every
    image of the split: the one loop from a dataset to its predictions (the run's evaluation, ``predict.py``).

    Each process evaluates its share of the split (under DDP an unrepeated sampler: no image twice, no padding).
    At the end of the epoch every process hands its logits and the dataset indices its loader drew to a gather,
    and the result is put in dataset order and checked to hold every image of the split exactly once. The
    evaluation after training (:mod:`litcls.runs.evaluate`) reads :attr:`logits` (``val``, ``test``), and
    ``predict.py`` (:func:`litcls.inference.predictor.predict_logits`) reads ``predict``; sanity checks and fast
    dev runs, whose batches are a sample, are not collected.

    With ``every_epoch`` the validation of every training epoch is collected too, and its confusion matrix and
    per-class report written under ``epochs/epoch_<n>/`` (the Grad-CAM gallery of the epoch reads the same logits).

    Args:
        run_dir: the run folder (only ``every_epoch`` writes there).
        every_epoch: also collect (and write) the validation split of every training epoch.
    """

    def __init__(self, run_dir: str | Path = ".", every_epoch: bool = False):
        self.run_dir = Path(run_dir)
        self.every_epoch = every_epoch
        self.logits: dict[str, np.ndarray] = {}  # split -> (N, C) float32 logits, on rank zero
        self._batches: list[torch.Tensor] = []

    def collecting(self, trainer: L.Trainer) -> bool:
        """Final evaluations always; validation inside fit only with ``every_epoch``."""
        if trainer.sanity_checking or trainer.fast_dev_run:
            return False
        return trainer.state.fn in (TrainerFn.TESTING, TrainerFn.VALIDATING, TrainerFn.PREDICTING) \
            or self.every_epoch

    def _start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._batches = []

    on_validation_epoch_start = _start
    on_test_epoch_start = _start
    on_predict_epoch_start = _start

    def _keep(self, trainer: L.Trainer, outputs: Any) -> None:
        if not self.collecting(trainer):
            return
        if not (isinstance(outputs, dict) and "logits" in outputs):
            raise TypeError("PredictionCollector needs validation_step, test_step and predict_step to return "
                            "{'logits': logits}, as ClassifierModule does")
        self._batches.append(outputs["logits"].detach().float())

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._keep(trainer, outputs)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._keep(trainer, outputs)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._keep(trainer, outputs)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.collecting(trainer):
            return
        self._gather(trainer, pl_module, "val")
        if trainer.state.fn == TrainerFn.FITTING and trainer.is_global_zero and not pl_module.task.multi_hot:
            self._write_epoch(trainer, pl_module)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.collecting(trainer):
            self._gather(trainer, pl_module, "test")

    def on_predict_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._gather(trainer, pl_module, "predict")

    def _gather(self, trainer: L.Trainer, pl_module: L.LightningModule, split: str) -> None:
        """All processes: gather the shares; rank zero keeps them in dataset order."""
        loaders = {"test": trainer.test_dataloaders, "predict": trainer.predict_dataloaders}.get(
            split, trainer.val_dataloaders)
        loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
        drawn = [index for batch in loader.batch_sampler for index in batch]  # the order this process evaluated
        classes = len(pl_module.class_names)
        logits = torch.cat(self._batches) if self._batches else torch.zeros(0, classes, device=pl_module.device)
        self._batches = []
        if len(drawn) != len(logits):
            raise RuntimeError(f"{split}: the loader drew {len(drawn)} images but {len(logits)} were evaluated")
        indices = torch.as_tensor(drawn, dtype=torch.long, device=logits.device)
        if trainer.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            logits = torch.cat(gather_all_tensors(logits.contiguous()))
            indices = torch.cat(gather_all_tensors(indices))
        if not trainer.is_global_zero:
            return
        size = len(loader.dataset)
        order = torch.argsort(indices)
        if not torch.equal(indices[order].cpu(), torch.arange(size)):
            raise RuntimeError(f"{split}: {len(indices)} predictions for {size} images, not each image exactly once; "
                               "the evaluation loaders must use an unrepeated sampler")
        self.logits[split] = logits[order].cpu().numpy()

    def _write_epoch(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """The validation confusion matrix and per-class report of this training epoch, under ``epochs/``."""
        loaders = trainer.val_dataloaders
        dataset = loaders[0].dataset if isinstance(loaders, (list, tuple)) else loaders.dataset
        names = list(pl_module.class_names)
        folder = self.run_dir / "epochs" / f"epoch_{trainer.current_epoch:03d}"
        task = pl_module.task
        written = write_split_report(folder, np.asarray(dataset.labels), task.decide(task.probabilities(
            self.logits["val"])), names, f"val split, epoch {trainer.current_epoch}")
        log_image(trainer.loggers, "val/confusion_matrix", written.figures["confusion_matrix"], trainer.global_step)
        log_evaluation_tables(trainer.loggers, "val", written.counts, names, written.report)
