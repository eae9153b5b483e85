"""The model part of the configuration: which network, its starting weights, and what of it trains, with the
rules these settings must follow. It lives here, beside :mod:`litcls.models`, because importing that package
imports torch and every model, which ``train.py --help`` should not wait for."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from litcls.errors import UserError
from litcls.settings import check_choices, setting
from litcls.suggest import did_you_mean_path

HEADS = ("linear", "mlp")  # built by litcls.models.heads


@dataclass
class ModelSettings:
    """The network and its starting point."""

    name: str = setting("cnn", "model: a name from the registry (see --list-models), timm/<name> for any timm "
                        "model (--list-models 'timm/convnext*'), or pkg.module:builder for a builder of your own",
                        group="model", key="model")
    pretrained: bool = setting(False, "start from the model's pretrained weights (torchvision's from the TORCH_HOME "
                               "cache, timm's from the Hugging Face cache, HF_HOME; downloaded once unless "
                               "HF_HUB_OFFLINE) and use their image size and normalisation", group="model")
    weights: str | None = setting(None, "start from a local state dict (.pth, .safetensors) or a litcls checkpoint "
                                  "(.ckpt)", group="model")
    mean: list[float] = setting([], "normalisation mean per channel (empty: the starting weights' own, else "
                                "ImageNet's); config.yaml records the one used", group="model")
    std: list[float] = setting([], "normalisation standard deviation per channel (empty: as --mean)", group="model")
    freeze_backbone: bool = setting(False, "train the head only: the backbone's weights and batch-norm "
                                    "statistics stay as loaded", group="model")
    unfreeze_at_epoch: int | None = setting(None, "with --freeze-backbone: from this epoch (0-based) on, "
                                            "fine-tune the backbone too", group="model")
    backbone_lr_ratio: float = setting(0.1, "after --unfreeze-at-epoch, the backbone's learning rate as a "
                                       "fraction of the head's", group="model")
    cache_features: bool = setting(False, "with --freeze-backbone and --pretrained or --weights: embed every image "
                                   "once with the frozen backbone (no augmentation), cache the features under "
                                   "$LITCLS_CACHE (default ~/.cache/litcls) and train the head on them",
                                   group="model")
    head: str = setting("linear", "head on a transfer model's backbone: linear (the model's own) or mlp (a dense "
                        "layer of 100 units, ReLU and dropout, then the classes, as Teachable Machine)", HEADS,
                        group="model")
    lr_find: bool = setting(False, "before training, run Lightning's learning-rate finder on the training split "
                            "and train with its suggestion (lr_find.png/.csv in the run folder); falls back to --lr",
                            group="model")

    def validate(self) -> None:
        """Check values that need no heavy import; raise UserError naming the flag at fault."""
        check_choices(self)
        self._validate_cache_features()  # before the warning about a random frozen backbone
        if self.pretrained and self.weights:
            raise UserError("--pretrained and --weights both set the starting weights: give one of them")
        if self.weights and not Path(self.weights).is_file():
            raise UserError(f"--weights: no such file: {self.weights}{did_you_mean_path(self.weights)}")
        if self.unfreeze_at_epoch is not None and not self.freeze_backbone:
            raise UserError("--unfreeze-at-epoch needs --freeze-backbone (the backbone is frozen until then)")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if values and (len(values) not in (1, 3) or (name == "std" and min(values) <= 0)):
                raise UserError(f"--{name}: give 1 or 3 values{' above 0' if name == 'std' else ''}, got {values}")
        if not 0 < self.backbone_lr_ratio <= 1:
            raise UserError(f"--backbone-lr-ratio must be in (0, 1], got {self.backbone_lr_ratio}")
        if self.freeze_backbone and not (self.pretrained or self.weights):
            warnings.warn("--freeze-backbone without --pretrained or --weights trains the head on a randomly "
                          "initialised backbone", stacklevel=3)

    def _validate_cache_features(self) -> None:
        if not self.cache_features:
            return
        if not self.freeze_backbone:
            raise UserError("--cache-features needs --freeze-backbone: features are computed once, so a backbone "
                            "that trains would leave them stale")
        if not (self.pretrained or self.weights):
            raise UserError("--cache-features needs --pretrained or --weights: a frozen random backbone's features "
                            "describe nothing learned, so caching them would only speed up a meaningless run")
        if self.unfreeze_at_epoch is not None:
            raise UserError("--cache-features and --unfreeze-at-epoch: the backbone would train from that epoch, "
                            "so the cached features would be stale; drop one of them")
