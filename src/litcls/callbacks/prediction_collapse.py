"""One warning when validation predicts a single class for every image while training accuracy climbs.

That is how a model that cannot evaluate yet looks from outside (batch-norm statistics far behind the weights,
a learning rate that has blown the head up, a validation split unlike the training one): the run would end at
chance accuracy with a normal summary. The warning says so while the run can still be stopped.
"""

from __future__ import annotations

import warnings

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn


class PredictionCollapseWarning(L.Callback):
    """Count the classes validation predicts; warn once when it predicts only one class of several while
    training accuracy is above chance and rising.

    Args:
        margin: how far above chance (1 / number of classes) training accuracy must be.
    """

    def __init__(self, margin: float = 0.2):
        self.margin = margin
        self.warned = False
        self._predicted: torch.Tensor | None = None
        self._true: torch.Tensor | None = None
        self._last_train_acc: float | None = None

    def _active(self, trainer: L.Trainer) -> bool:
        return not (self.warned or trainer.sanity_checking or trainer.fast_dev_run
                    or trainer.state.fn != TrainerFn.FITTING)

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if pl_module.task.multi_hot:  # several labels per image: no single class to collapse onto
            self._predicted = None
            return
        classes = len(pl_module.class_names)
        self._predicted = torch.zeros(classes, dtype=torch.long, device=pl_module.device)
        self._true = torch.zeros(classes, dtype=torch.long, device=pl_module.device)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if self._active(trainer) and self._predicted is not None and isinstance(outputs, dict) \
                and "logits" in outputs:
            classes = len(self._predicted)
            task = pl_module.task
            predicted = task.decide(task.probabilities(outputs["logits"].float()))
            self._predicted += torch.bincount(predicted, minlength=classes)
            self._true += torch.bincount(batch[1], minlength=classes)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # train/acc of this epoch is known here, after this epoch's validation
        if not self._active(trainer) or self._predicted is None or "train/acc" not in trainer.callback_metrics:
            return
        predicted = trainer.strategy.reduce(self._predicted.float(), reduce_op="sum")
        true = trainer.strategy.reduce(self._true.float(), reduce_op="sum")
        train_acc = float(trainer.callback_metrics["train/acc"])
        rising = self._last_train_acc is None or train_acc >= self._last_train_acc
        self._last_train_acc = train_acc
        chance = 1 / len(pl_module.class_names)
        if int((true > 0).sum()) < 2 or int((predicted > 0).sum()) != 1:
            return
        if rising and train_acc >= chance + self.margin:
            self.warned = True
            name = pl_module.class_names[int(torch.nonzero(predicted)[0])]  # the one class predicted
            if trainer.is_global_zero:
                warnings.warn(
                    f"epoch {trainer.current_epoch + 1}: validation predicted {name!r} for all {int(true.sum())} "
                    f"images while training accuracy is {train_acc:.2f}; the model does not generalise yet. "
                    "With few images per class try --precise-bn on, a smaller --batch-size, a lower --lr, or "
                    "--model mlp; check that the validation images look like the training ones", stacklevel=1)
