"""The recipe part of the configuration: how the weights are trained (epochs, optimizer, schedule, loss,
augmentation of batches, weight averaging, clipping), with the rules these settings must follow.

The fields the LightningModule takes have its argument names (``max_epochs`` is ``--epochs``), so that the module
is built from this part (:func:`litcls.models.module.module_settings`)."""

from __future__ import annotations

from dataclasses import dataclass, make_dataclass

from litcls.errors import UserError
from litcls.plugins import parse_plugin
from litcls.recipe.losses import LOSSES, check_loss_parameters, loss_parameters
from litcls.recipe.optim import METRIC_SCHEDULERS, OPTIMIZERS, SCHEDULERS
from litcls.settings import check_at_least, check_choices, check_fraction, setting

PRECISE_BN = ("auto", "on", "off")


@dataclass
class RecipeSettings:
    """The training recipe."""

    max_epochs: int = setting(30, "maximum number of epochs", key="epochs")
    lr: float = setting(1e-3, "learning rate")
    weight_decay: float = setting(1e-4, "weight decay")
    optimizer: str = setting("adamw", "optimizer", OPTIMIZERS)
    scheduler: str = setting("cosine", "learning-rate schedule", SCHEDULERS)
    label_smoothing: float = setting(0.0, "label smoothing of the loss, in [0, 1)")
    patience: int = setting(5, "epochs without improvement of --monitor before stopping, raised so that at least "
                            "50 optimizer steps are waited for; 0 disables early stopping")
    precise_bn: str = setting("auto", "recompute batch-norm statistics over the training split before every "
                              "validation: auto = when an epoch has fewer than 16 optimizer steps", PRECISE_BN)
    loss: str = setting("ce", "training loss: " + ", ".join(f"{name} ({entry.description})"
                                                           for name, entry in LOSSES.items()), tuple(LOSSES),
                        group="recipe")
    # and one field per loss parameter (focal_gamma), declared beside its loss: see the end of this module
    mixup: float | None = setting(None, "MixUp of training batches with this Beta alpha (e.g. 0.2)", group="recipe")
    cutmix: float | None = setting(None, "CutMix of training batches with this Beta alpha (e.g. 1.0); with "
                                   "--mixup, each batch gets one of the two", group="recipe")
    ema: float | None = setting(None, "keep an exponential moving average of the weights with this decay (e.g. "
                                "0.999, warmed up as timm does); validation, the best checkpoint and the evaluation "
                                "use it", group="recipe")
    warmup_epochs: int = setting(0, "epochs of linear learning-rate warmup before the schedule: epoch e trains at "
                                 "lr * (e + 1) / (N + 1)", group="recipe")
    grad_clip: float | None = setting(None, "clip the gradients' global norm to this value", group="recipe")
    channels_last: bool = setting(False, "channels-last memory format (faster convolutions on recent GPUs)",
                                  group="recipe")
    compile: bool = setting(False, "torch.compile the model; falls back with a warning where it fails",
                            group="recipe")
    callbacks: list[str] = setting([], "extra Lightning callbacks as pkg.module:Class or "
                                   "pkg.module:Class:{\"arg\": 1} (JSON keyword arguments); several allowed",
                                   group="recipe")

    def validate(self) -> None:
        """Check values that need no heavy import; raise UserError naming the flag at fault."""
        check_fraction(self, "label_smoothing")
        check_at_least(self, 1, "max_epochs")
        check_at_least(self, 0, "patience", "warmup_epochs")
        if self.lr <= 0:
            raise UserError(f"--lr must be positive, got {self.lr}")
        check_choices(self)
        for name in ("mixup", "cutmix", "grad_clip"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise UserError(f"--{name.replace('_', '-')} must be positive, got {value}; leave it out to turn "
                                "it off")
        if self.ema is not None and not 0 < self.ema < 1:
            raise UserError(f"--ema is the decay of the weights' moving average and must be in (0, 1), e.g. 0.999; "
                            f"got {self.ema}")
        check_loss_parameters(self)
        if self.warmup_epochs and self.warmup_epochs >= self.max_epochs:
            raise UserError(f"--warmup-epochs ({self.warmup_epochs}) must be less than --epochs "
                            f"({self.max_epochs}), so that the schedule has epochs after the warmup")
        if self.warmup_epochs and self.scheduler in METRIC_SCHEDULERS:
            raise UserError(f"--warmup-epochs does not chain with --scheduler {self.scheduler} (it reacts to "
                            "validation, not to the epoch count); use cosine, step or none")
        for spec in self.callbacks:
            parse_plugin(spec)


# The parameters of the losses (focal_gamma -> --focal-gamma) are declared beside each loss in
# litcls.recipe.losses, so that adding a loss is one entry there; they become the last fields of this part.
RecipeSettings = make_dataclass(  # type: ignore[misc]
    "RecipeSettings", [(parameter.name, float, setting(parameter.default, parameter.help, group="recipe"))
                       for parameter in loss_parameters()],
    bases=(RecipeSettings,), namespace={"__doc__": RecipeSettings.__doc__, "__module__": __name__})
