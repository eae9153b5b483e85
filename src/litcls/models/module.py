"""The one training LightningModule: any registered model, the recipe's loss, optimizer and schedule (see
:mod:`litcls.recipe`), MixUp/CutMix of training batches, torchmetrics under the contract's names."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn
from torchmetrics import MeanMetric

from litcls.data.transforms import Preprocessing
from litcls.evaluation.metrics import build_metrics, monitors
from litcls.models.heads import replace_head
from litcls.models.registry import build_model, get_model_spec
from litcls.recipe.losses import build_loss
from litcls.recipe.mixing import build_mixing
from litcls.recipe.optim import build_optimizer, build_scheduler
from litcls.tasks import DEFAULT_TASK, task_for


def settings_arguments(module_class: type, *parts: Any) -> dict[str, Any]:
    """The fields of the settings ``parts`` (dataclasses) that ``module_class`` takes: a setting named like one of
    its arguments is that argument (``RecipeSettings.max_epochs`` is ``max_epochs``), so that the module is built
    from its settings, not from a copied list of keywords."""
    accepted = inspect.signature(module_class).parameters
    return {f.name: getattr(part, f.name) for part in parts for f in dataclasses.fields(part) if f.name in accepted}


class ClassifierModule(L.LightningModule):
    """Train and evaluate a registered model.

    Everything needed to rebuild the model and preprocess new images (model name, class names,
    preprocessing) is saved in the checkpoint's hyperparameters, so prediction repeats no training flag.

    Args:
        model: the network's name: registered, ``timm/<name>`` or ``pkg.module:builder``
            (:func:`litcls.models.registry.get_model_spec`).
        class_names: names of the classes, in label order; their number sizes the head.
        preprocessing: :meth:`Preprocessing.to_dict` of the images the model is trained on.
        optimizer: ``sgd`` (momentum 0.9, Nesterov), ``adam`` or ``adamw``.
        lr: learning rate.
        weight_decay: weight decay.
        scheduler: ``none``, ``cosine`` (over ``max_epochs``), ``step`` (x0.1 every third of the epochs)
            or ``plateau`` (x0.1 after two epochs without improvement of ``monitor``); see
            :mod:`litcls.recipe.optim`, also for ``warmup_epochs``.
        label_smoothing: label smoothing of the loss.
        max_epochs: planned number of epochs, for the schedule.
        monitor: validation metric the plateau schedule watches.
        class_weights: optional weight per class for the training loss (``--balance loss``; multi-label: each
            label's positive weight); validation and test losses stay unweighted, so they mean the same with and
            without it.
        curve_thresholds: fixed thresholds of the AUROC and AP metrics; None computes them exactly (see
            :func:`litcls.evaluation.metrics.curve_thresholds`).
        head: ``linear`` (the model's own) or ``mlp`` (see :mod:`litcls.models.heads`).
        loss: a name of :data:`litcls.recipe.losses.LOSSES` (``ce``, ``focal``).
        mixup, cutmix: Beta-distribution alphas of MixUp and CutMix on training batches; 0 or None = off. Training
            metrics of a mixed batch are computed against each image's dominant label (the larger share).
        warmup_epochs: epochs of linear learning-rate warmup.
        channels_last: keep weights and images in channels-last memory format (faster convolutions on GPUs).
        starting_weights: :meth:`StartingWeights.record` of the weights training started from (None: random), so
            the checkpoint says where its preprocessing came from.
        task: a name of :data:`litcls.tasks.TASKS`; it turns logits into probabilities and decisions, and picks the
            metric table's rows (a checkpoint without it is single-label).
        loss_parameters: the parameters of the losses by name (``focal_gamma``), each declared beside its loss.
    """

    def __init__(self, model: str, class_names: list[str], preprocessing: dict[str, Any], optimizer: str = "adamw",
                 lr: float = 1e-3, weight_decay: float = 1e-4, scheduler: str = "cosine",
                 label_smoothing: float = 0.0, max_epochs: int = 30, monitor: str = "val/loss",
                 class_weights: list[float] | None = None, curve_thresholds: int | None = None,
                 head: str = "linear", loss: str = "ce", mixup: float | None = 0.0, cutmix: float | None = 0.0,
                 warmup_epochs: int = 0, channels_last: bool = False, task: str = DEFAULT_TASK,
                 starting_weights: dict[str, Any] | None = None,
                 **loss_parameters: float):
        super().__init__()
        self.save_hyperparameters()
        self.class_names = list(class_names)
        self.task = task_for(task)
        self.preprocessing = Preprocessing.from_dict(preprocessing)
        self.in_chans = self.preprocessing.in_chans  # 3, or 1 for grey images
        self.model = build_model(model, len(self.class_names), self.preprocessing.img_size, self.in_chans)
        replace_head(self.model, model, get_model_spec(model).head_name(self.model), head)
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.criterion = build_loss(loss, None, label_smoothing, self.task.name, **loss_parameters)
        self.train_criterion = build_loss(loss, class_weights, label_smoothing, self.task.name, **loss_parameters)
        self.mixing = build_mixing(mixup, cutmix, len(self.class_names), multi_hot=self.task.multi_hot)
        # every stage's metrics come from the metric table (litcls.evaluation.metrics)
        classes = len(self.class_names)
        self.train_metrics = build_metrics(classes, "train", curve_thresholds, prefix="train/", task=self.task.name)
        self.val_metrics = build_metrics(classes, "val", curve_thresholds, prefix="val/", task=self.task.name)
        self.test_metrics = build_metrics(classes, "test", curve_thresholds, prefix="test/", task=self.task.name)
        # what the evaluation decided on the validation split (temperature, operating threshold); stored in the
        # best checkpoint after training, read back by predict.py
        self.decision: dict[str, Any] = {}
        # The epoch loss is a torchmetrics mean weighted by batch size: its sums are synced exactly across
        # processes. Lightning's own `self.log(sync_dist=True)` mean truncates the synced image count to an
        # integer on gloo, which is wrong when processes hold different numbers of evaluation images.
        self.train_loss, self.val_loss, self.test_loss = MeanMetric(), MeanMetric(), MeanMetric()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.hparams.get("channels_last") and images.dim() == 4:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.model(images)  # (B, C, H, W) -> (B, num_classes) logits

    def _shared_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        targets = labels
        if stage == "train" and self.mixing is not None:
            images, targets = self.mixing(images, labels)  # soft targets (B, C)
        labels = self.task.metric_targets(targets)  # e.g. a mixed image's dominant label, for the metrics
        logits = self(images)
        loss = (self.train_criterion if stage == "train" else self.criterion)(logits, targets)
        metrics, mean_loss = getattr(self, f"{stage}_metrics"), getattr(self, f"{stage}_loss")
        metrics.update(self.task.probabilities(logits.detach().float()), labels)  # whatever the logits' range
        mean_loss.update(loss.detach(), weight=len(labels))
        # ``trainer.validate`` after fitting (the best checkpoint, for results.json) computes its val metrics without
        # adding a point to the logged per-epoch val curves (None: Lightning's default, to the loggers if any)
        logger = None if stage != "val" or self.trainer.state.fn == TrainerFn.FITTING else False
        self.log(f"{stage}/loss", mean_loss, on_step=False, on_epoch=True, prog_bar=stage != "test", logger=logger)
        self.log_dict(metrics, on_step=False, on_epoch=True, logger=logger)
        return loss, logits

    def training_step(self, batch, batch_idx):
        loss, _ = self._shared_step(batch, "train")
        # logged at every step (its epoch mean is the epoch's rate): a run resumed inside an epoch has no epoch start
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], on_step=False, on_epoch=True)
        self.log("train/batch_loss", loss, on_step=True, on_epoch=False, prog_bar=True,
                 logger=bool(self._trainer and self._trainer.loggers))  # --logger none: no warning per run
        return loss

    # evaluation steps hand their logits to callbacks (confusion matrix) through ``outputs``
    def validation_step(self, batch, batch_idx):
        return {"logits": self._shared_step(batch, "val")[1].detach()}

    def test_step(self, batch, batch_idx):
        return {"logits": self._shared_step(batch, "test")[1].detach()}

    def predict_step(self, batch, batch_idx):
        """Logits of ``images`` or ``(images, ...)``, handed to callbacks as the evaluation steps hand theirs."""
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        return {"logits": self(images).detach()}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.decision:
            checkpoint["decision"] = dict(self.decision)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.decision = dict(checkpoint.get("decision") or {})

    def configure_optimizers(self):
        hp = self.hparams
        optimizer = build_optimizer(hp.optimizer, [p for p in self.parameters() if p.requires_grad], hp.lr,
                                    hp.weight_decay)
        scheduler = build_scheduler(hp.scheduler, optimizer, hp.max_epochs, hp.get("warmup_epochs", 0),
                                    mode=monitors()[hp.monitor])
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": hp.monitor}}
