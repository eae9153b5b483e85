"""Transfer learning: train the head on a frozen backbone, then optionally fine-tune the backbone too."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import BaseFinetuning
from torch import nn
from torch.optim import Optimizer

from litcls.errors import UserError
from litcls.models import get_model_spec


def backbone_modules(model: nn.Module, head: str) -> list[nn.Module]:
    """Every submodule of ``model`` outside its head; the head's ancestors (which hold both) are left out."""

    def within(name: str, ancestor: str) -> bool:
        return name == ancestor or name.startswith(ancestor + ".")

    return [module for name, module in model.named_modules()
            if name and not within(name, head) and not within(head, name)]


UNFREEZE_NEEDS_ONE_PROCESS = ("--unfreeze-at-epoch needs a single process: DDP would not synchronise a backbone "
                              "unfrozen during training. Train on one device, or keep the backbone frozen")


class BackboneFreeze(BaseFinetuning):
    """Freeze everything but the head of a ``ClassifierModule``'s model; unfreeze it at an epoch if asked.

    While frozen, the backbone's parameters get no gradient and its layers run in eval mode, so batch-norm
    layers normalise with, and keep, the running statistics of the starting weights (and dropout is off).
    From ``unfreeze_at_epoch`` on, the backbone trains in a new optimizer param group whose learning rate is
    ``backbone_lr_ratio`` times the head's and follows the head's schedule. The head is the registry's
    (:meth:`litcls.models.ModelSpec.head_name`).

    Unfreezing is refused under several processes: DDP registers the parameters it synchronises once, at the
    start, so a backbone unfrozen later would train apart on every process (Lightning issue #20340).

    Args:
        unfreeze_at_epoch: first epoch (0-based) that trains the backbone; None keeps it frozen.
        backbone_lr_ratio: the backbone's learning rate over the head's after unfreezing, in (0, 1].
    """

    def __init__(self, unfreeze_at_epoch: int | None = None, backbone_lr_ratio: float = 0.1):
        super().__init__()
        if unfreeze_at_epoch is not None and unfreeze_at_epoch < 1:
            raise ValueError(f"unfreeze_at_epoch must be 1 or more (or None to stay frozen), got {unfreeze_at_epoch}")
        if not 0 < backbone_lr_ratio <= 1:
            raise ValueError(f"backbone_lr_ratio must be in (0, 1], got {backbone_lr_ratio}")
        self.unfreeze_at_epoch = unfreeze_at_epoch
        self.backbone_lr_ratio = backbone_lr_ratio
        self.backbone: list[nn.Module] = []

    def is_frozen(self, epoch: int) -> bool:
        return self.unfreeze_at_epoch is None or epoch < self.unfreeze_at_epoch

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.unfreeze_at_epoch is not None and trainer.world_size > 1:
            raise UserError(UNFREEZE_NEEDS_ONE_PROCESS)
        super().setup(trainer, pl_module, stage)

    def freeze_before_training(self, pl_module: L.LightningModule) -> None:
        model = pl_module.model
        head = get_model_spec(pl_module.hparams.model).head_name(model)
        self.backbone = backbone_modules(model, head)
        if not any(p.numel() for module in self.backbone for p in module.parameters(recurse=False)):
            raise UserError(f"--freeze-backbone: model {pl_module.hparams.model!r} has no trainable layer "
                            f"besides its head {head!r}, so there is nothing to freeze")
        self.freeze(self.backbone, train_bn=False)

    def finetune_function(self, pl_module: L.LightningModule, epoch: int, optimizer: Optimizer) -> None:
        if self.is_frozen(epoch):
            return
        self.make_trainable(self.backbone)
        in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
        params = [p for module in self.backbone for p in module.parameters(recurse=False) if id(p) not in in_optimizer]
        if not params:  # unfrozen at an earlier epoch, or restored so by a resumed checkpoint
            return
        head_group = optimizer.param_groups[0]
        group = {"params": params, "lr": head_group["lr"] * self.backbone_lr_ratio}
        if "initial_lr" in head_group:
            group["initial_lr"] = head_group["initial_lr"] * self.backbone_lr_ratio
        optimizer.add_param_group(group)
        for config in pl_module.trainer.lr_scheduler_configs:  # schedules keep one base lr per param group
            # (a warmup chains schedules in a SequentialLR, each with its own list)
            for scheduler in [config.scheduler, *getattr(config.scheduler, "_schedulers", [])]:
                base_lrs = getattr(scheduler, "base_lrs", None)
                if scheduler.optimizer is optimizer and base_lrs and len(base_lrs) < len(optimizer.param_groups):
                    base_lrs.append(base_lrs[0] * self.backbone_lr_ratio)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # a run resumed inside an epoch gets no on_train_epoch_start for that epoch (Lightning skips it), so the
        # epoch's state is set here too: else a resumed unfrozen epoch would train the head alone, and a resumed
        # frozen one would update the backbone's batch-norm statistics. Repeated at the epoch's start, it is a no-op.
        self.on_train_epoch_start(trainer, pl_module)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        training = not self.is_frozen(trainer.current_epoch)
        for module in self.backbone:  # each module listed, so no recursion into the head
            module.training = training
