"""The run configuration: typed defaults < YAML file < command-line flags.

This module imports nothing heavy (no torch), so ``train.py --help`` and config
validation stay fast. Every field is one flag (``img_size`` -> ``--img-size``) and
one YAML key (``img_size`` or ``img-size``).
"""

from __future__ import annotations

import dataclasses
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from litcls.data.presets import augment_presets
from litcls.errors import UserError
from litcls.evaluation.metrics import monitors
from litcls.evaluation.threshold import parse_rule
from litcls.plugins import is_import_path, parse_plugin
from litcls.recipe.losses import LOSSES, check_loss_parameters, loss_parameters
from litcls.recipe.optim import METRIC_SCHEDULERS, OPTIMIZERS, SCHEDULERS
from litcls.suggest import did_you_mean, did_you_mean_path

# names owned by the parts that use them, gathered here for the flags' choices and validation
AUGMENT_PRESETS = augment_presets()  # the YAML files in litcls/data/augment_presets/
LOGGERS = ("csv", "tensorboard", "wandb", "none")
PROGRESS = ("auto", "bar", "lines", "none")
WANDB_MODES = ("auto", "online", "offline", "disabled")
BALANCE = ("none", "sampler", "loss")
PRECISE_BN = ("auto", "on", "off")
HEADS = ("linear", "mlp")  # built by litcls.models.heads
# metric -> the direction that is better; early stopping and checkpointing use it (from the metric table).
MONITORS = monitors()


def _opt(default: Any, help: str, choices: tuple[str, ...] | None = None, group: str = "training") -> Any:
    """A dataclass field carrying its command-line help, choices and help-group."""
    meta = {"help": help, "choices": choices, "group": group}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """Everything a run needs; saved as ``config.yaml`` in the run folder and re-runnable."""

    # data
    data: str = _opt("digits", "image folder (root/<class>/<img> or root/train|val|test/<class>/<img>), a CSV "
                     "or TSV manifest (one row per image; see --path-col, --label-col), or a built-in dataset "
                     "name: digits, mnist, fashion_mnist, cifar10", group="data")
    path_col: str = _opt("path", "manifest: the column of image paths (relative to --image-root), or a template "
                         "over columns such as images/{image_id}.jpg", group="data")
    label_col: str = _opt("label", "manifest: the column of class names (any text; numbers too)", group="data")
    group_col: str | None = _opt(None, "manifest: the column of groups (a patient, a lesion): all images of a "
                                 "group go to the same split and fold", group="data")
    split_col: str | None = _opt(None, "manifest: the column of given splits (train, val, test)", group="data")
    image_root: str | None = _opt(None, "manifest: the folder image paths are relative to (default: the "
                                  "manifest's folder)", group="data")
    group_pattern: str | None = _opt(None, "a regular expression whose first capture group, searched in each "
                                     "image's path, is its group, e.g. 'person(\\d+)_'; every image must match",
                                     group="data")
    resplit_val: bool = _opt(False, "ignore a given validation split (val/ folder or --split-col) and carve "
                             "validation from the training images instead, stratified (by group with groups)",
                             group="data")
    slice_cols: str | None = _opt(None, "manifest: comma-separated metadata columns (e.g. sex,site) whose values "
                                  "get their own accuracy and macro F1 in slices.csv and the report",
                                  group="data")
    img_size: int | None = _opt(None, "images are resized to IMG_SIZE x IMG_SIZE pixels (default: the size "
                                "the model suits, see --list-models, or the size its --pretrained or "
                                "--weights were trained at)", group="data")
    val_size: float = _opt(0.15, "fraction of images for validation, in (0, 1)", group="data")
    test_size: float = _opt(0.15, "fraction of images for the test split, in [0, 1); 0 = no test split",
                            group="data")
    augment: str = _opt("light", f"training augmentation: a preset ({', '.join(AUGMENT_PRESETS)}) or an "
                        "albumentations YAML file", group="data")
    batch_size: int | None = _opt(None, "images per batch (per device); default: chosen from the size of the "
                                  "training split, the largest of 64, 32, 16, 8 that gives at least 10 optimizer "
                                  "steps per epoch, and recorded in config.yaml", group="data")
    num_workers: int = _opt(2, "data-loading worker processes (0 = load in the main process)", group="data")
    seed: int = _opt(42, "seed for the split, weight initialisation and augmentation", group="data")
    balance: str = _opt("none", "counter class imbalance: sampler (draw every class equally often) or loss "
                        "(weigh the training loss by inverse class frequency)", BALANCE, group="data")
    # model and optimisation
    model: str = _opt("cnn", "model name from the registry (see --list-models)", group="model")
    pretrained: bool = _opt(False, "start from torchvision's ImageNet weights (from the TORCH_HOME cache, "
                            "downloaded once) and use their image size and normalisation", group="model")
    weights: str | None = _opt(None, "start from a local state dict (.pth) or a litcls checkpoint (.ckpt)",
                               group="model")
    freeze_backbone: bool = _opt(False, "train the head only: the backbone's weights and batch-norm "
                                 "statistics stay as loaded", group="model")
    unfreeze_at_epoch: int | None = _opt(None, "with --freeze-backbone: from this epoch (0-based) on, "
                                         "fine-tune the backbone too", group="model")
    backbone_lr_ratio: float = _opt(0.1, "after --unfreeze-at-epoch, the backbone's learning rate as a "
                                    "fraction of the head's", group="model")
    cache_features: bool = _opt(False, "with --freeze-backbone and --pretrained or --weights: embed every image "
                                "once with the frozen backbone (no augmentation), cache the features under "
                                "$LITCLS_CACHE (default ~/.cache/litcls) and train the head on them", group="model")
    head: str = _opt("linear", "head on a transfer model's backbone: linear (the model's own) or mlp (a dense "
                     "layer of 100 units, ReLU and dropout, then the classes, as Teachable Machine)", HEADS,
                     group="model")
    lr_find: bool = _opt(False, "before training, run Lightning's learning-rate finder on the training split and "
                         "train with its suggestion (lr_find.png/.csv in the run folder); falls back to --lr",
                         group="model")
    epochs: int = _opt(30, "maximum number of epochs")
    lr: float = _opt(1e-3, "learning rate")
    weight_decay: float = _opt(1e-4, "weight decay")
    optimizer: str = _opt("adamw", "optimizer", OPTIMIZERS)
    scheduler: str = _opt("cosine", "learning-rate schedule", SCHEDULERS)
    label_smoothing: float = _opt(0.0, "label smoothing of the loss, in [0, 1)")
    monitor: str = _opt("val/loss", "validation metric for early stopping and the best checkpoint",
                        tuple(MONITORS))
    patience: int = _opt(5, "epochs without improvement of --monitor before stopping, raised so that at least "
                         "50 optimizer steps are waited for; 0 disables early stopping")
    precise_bn: str = _opt("auto", "recompute batch-norm statistics over the training split before every "
                           "validation: auto = when an epoch has fewer than 16 optimizer steps", PRECISE_BN)
    # recipe (see litcls.recipe)
    loss: str = _opt("ce", "training loss: " + ", ".join(f"{name} ({entry.description})"
                                                         for name, entry in LOSSES.items()), tuple(LOSSES),
                     group="recipe")
    # and one field per loss parameter (focal_gamma), declared beside its loss: see the end of this module
    mixup: float | None = _opt(None, "MixUp of training batches with this Beta alpha (e.g. 0.2)", group="recipe")
    cutmix: float | None = _opt(None, "CutMix of training batches with this Beta alpha (e.g. 1.0); with --mixup, "
                                "each batch gets one of the two", group="recipe")
    ema: float | None = _opt(None, "keep an exponential moving average of the weights with this decay (e.g. "
                             "0.999, warmed up as timm does); validation, the best checkpoint and the evaluation use "
                             "it", group="recipe")
    warmup_epochs: int = _opt(0, "epochs of linear learning-rate warmup before the schedule: epoch e trains at "
                              "lr * (e + 1) / (N + 1)", group="recipe")
    grad_clip: float | None = _opt(None, "clip the gradients' global norm to this value", group="recipe")
    channels_last: bool = _opt(False, "channels-last memory format (faster convolutions on recent GPUs)",
                               group="recipe")
    compile: bool = _opt(False, "torch.compile the model; falls back with a warning where it fails",
                         group="recipe")
    callbacks: list[str] = _opt([], "extra Lightning callbacks as pkg.module:Class or "
                                "pkg.module:Class:{\"arg\": 1} (JSON keyword arguments); several allowed",
                                group="recipe")
    # output and tracking
    out_dir: str = _opt("runs", "folder that holds run folders", group="output")
    name: str | None = _opt(None, "run folder name (default: <data>-<model>-<date>-<time>)", group="output")
    logger: list[str] = _opt(["csv"], "experiment loggers, several allowed; also your own Lightning Logger as "
                             "pkg.module:Class or pkg.module:Class:{\"arg\": 1} (JSON keyword arguments), given the "
                             "run folder as save_dir when its constructor takes one", LOGGERS, group="output")
    wandb_project: str = _opt("litcls", "W&B project", group="weights & biases")
    wandb_entity: str | None = _opt(None, "W&B entity (user or team; default: yours)", group="weights & biases")
    wandb_mode: str = _opt("auto", "auto: online when logged in (or WANDB_API_KEY is set), else offline",
                           WANDB_MODES, group="weights & biases")
    progress: str = _opt("auto", "progress display: bar (Lightning's progress bar), lines (one line per epoch), "
                         "none; auto = bar on a terminal, lines otherwise (a batch job's log)", PROGRESS,
                         group="output")
    tags: list[str] = _opt([], "W&B tags", group="weights & biases")
    group: str | None = _opt(None, "W&B group (k-fold and repeated-seed runs are grouped by run name)",
                             group="weights & biases")
    log_model: bool = _opt(True, "upload the best and last checkpoints as a W&B model artifact",
                           group="weights & biases")
    # evaluation figures
    gradcam_per_class: int = _opt(2, "Grad-CAM overlays of this many evaluation images per class; 0 = none",
                                  group="evaluation")
    gradcam_mistakes: int = _opt(8, "Grad-CAM overlays of this many most confident mistakes; 0 = none",
                                 group="evaluation")
    gradcam_layer: str | None = _opt(None, "module whose activations Grad-CAM explains, as a path from the "
                                     "LightningModule (e.g. model.features.3); None = found automatically",
                                     group="evaluation")
    plots_every_epoch: bool = _opt(False, "also write the validation confusion matrix and Grad-CAM gallery after "
                                   "every epoch, under epochs/ (slower)", group="evaluation")
    positive_class: str | None = _opt(None, "two-class tasks: the class whose sensitivity, specificity, PPV and NPV "
                                      "are reported (default: the second class in label order)", group="evaluation")
    threshold_rule: str | None = _opt(None, "two-class tasks: how the operating threshold is chosen on the "
                                      "validation split: youden, f1, sensitivity=X or specificity=X, X in (0, 1) "
                                      "(default: youden)", group="evaluation")
    bootstrap: int = _opt(1000, "bootstrap replicates for 95%% intervals of the evaluated split's metrics (whole "
                          "groups with --groups); 0 = none", group="evaluation")
    # hardware
    accelerator: str = _opt("auto", "Lightning accelerator: auto, cpu, gpu, mps, ...", group="hardware")
    devices: str = _opt("auto", "devices per node: auto, a count (2) or a list of ids (0,1)", group="hardware")
    strategy: str = _opt("auto", "Lightning strategy: auto, ddp, ddp_spawn, ...", group="hardware")
    num_nodes: int = _opt(1, "number of machines", group="hardware")
    precision: str = _opt("32-true", "numeric precision: 32-true, 16-mixed, bf16-mixed", group="hardware")
    sync_batchnorm: bool = _opt(False, "synchronise batch-norm statistics across processes (DDP)", group="hardware")
    accumulate_grad_batches: int = _opt(1, "batches whose gradients are summed before each optimizer step",
                                        group="hardware")
    fast_dev_run: bool = _opt(False, "run one batch of train, val and test to check the set-up", group="hardware")
    # cross-validation and leakage
    folds: int = _opt(0, "cross-validation with FOLDS stratified folds (at least 2) over the images outside "
                      "the test split; 0 = one train/val split", group="cross-validation")
    fold: int | None = _opt(None, "run only this fold (0 to FOLDS-1) into <out-dir>/<name>/fold_<FOLD>, as one job "
                            "of a cluster array; needs --folds and --name", group="cross-validation")
    groups: str | None = _opt(None, "CSV file with columns path, group (e.g. a patient id): all images of a group "
                              "go to the same split and fold", group="cross-validation")
    dedupe: bool = _opt(False, "keep one copy of byte-identical images (the first by path) before splitting",
                        group="cross-validation")
    seeds: list[int] = _opt([], "train once per seed into <out-dir>/<name>/seed_<s>/ and aggregate mean and std; "
                            "the split stays that of --seed", group="repeated seeds")
    resplit_per_seed: bool = _opt(False, "with --seeds: each seed also draws its own split", group="repeated seeds")

    def validate(self) -> TrainConfig:
        """Check values that need no heavy import; raise UserError naming the flag at fault."""
        for name in ("val_size", "test_size", "label_smoothing"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise UserError(f"--{_flag(name)} must be in [0, 1), got {value}")
        if self.val_size == 0:
            raise UserError("--val-size must be greater than 0: early stopping and the best checkpoint "
                            "are chosen on the validation split")
        if self.val_size + self.test_size >= 1:
            raise UserError(f"--val-size + --test-size must leave images for training, got "
                            f"{self.val_size} + {self.test_size} >= 1")
        for name in ("img_size", "batch_size", "epochs", "num_nodes", "accumulate_grad_batches"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise UserError(f"--{_flag(name)} must be at least 1, got {getattr(self, name)}")
        for name in ("num_workers", "patience", "gradcam_per_class", "gradcam_mistakes", "bootstrap"):
            if getattr(self, name) < 0:
                raise UserError(f"--{_flag(name)} must be 0 or more, got {getattr(self, name)}")
        if self.lr <= 0:
            raise UserError(f"--lr must be positive, got {self.lr}")
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            values = getattr(self, f.name)
            for value in values if isinstance(values, list) else [values]:
                if choices and value not in choices and not (f.name == "logger" and is_import_path(value)):
                    raise UserError(f"--{_flag(f.name)}: unknown value {value!r}{did_you_mean(value, choices)}; "
                                    f"valid values: {', '.join(choices)}")
        if self.folds < 0 or self.folds == 1:
            raise UserError(f"--folds must be 0 (no cross-validation) or at least 2, got {self.folds}")
        if self.fold is not None:
            if not self.folds:
                raise UserError(f"--fold {self.fold} needs --folds K: the number of folds the pool is split into")
            if not 0 <= self.fold < self.folds:
                raise UserError(f"--fold must be in 0..{self.folds - 1} for --folds {self.folds}, got {self.fold}")
            if not self.name:
                raise UserError("--fold needs --name: the fold jobs of one experiment share the run folder "
                                "<out-dir>/<name>")
        if self.groups is not None and not Path(self.groups).is_file():
            raise UserError(f"--groups: no such file: {self.groups}{did_you_mean_path(self.groups)}")
        sources = [flag for flag, value in (("--groups", self.groups), ("--group-col", self.group_col),
                                            ("--group-pattern", self.group_pattern)) if value]
        if len(sources) > 1:
            raise UserError(f"{' and '.join(sources)} both give the images' groups: use one of them")
        if self.resplit_val and self.folds:
            raise UserError("--resplit-val and --folds: k-fold already pools every image outside the test split "
                            "into its validation folds; drop --resplit-val")
        if self.augment not in AUGMENT_PRESETS and not Path(self.augment).is_file():
            near = did_you_mean_path(self.augment) if len(Path(self.augment).parts) > 1 else ""
            raise UserError(f"--augment: {self.augment!r} is neither a preset ({', '.join(AUGMENT_PRESETS)}) "
                            f"nor an existing YAML file{near or did_you_mean(self.augment, AUGMENT_PRESETS)}")
        for spec in filter(is_import_path, self.logger):
            parse_plugin(spec, "--logger")
        if self.threshold_rule is not None:
            parse_rule(self.threshold_rule)
        self._validate_recipe()
        self._validate_cache_features()  # before the warning about a random frozen backbone
        self._validate_starting_weights()
        return self

    def _validate_recipe(self) -> None:
        for name in ("mixup", "cutmix", "grad_clip"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise UserError(f"--{_flag(name)} must be positive, got {value}; leave it out to turn it off")
        if self.ema is not None and not 0 < self.ema < 1:
            raise UserError(f"--ema is the decay of the weights' moving average and must be in (0, 1), e.g. 0.999; "
                            f"got {self.ema}")
        check_loss_parameters(self)
        if self.warmup_epochs < 0:
            raise UserError(f"--warmup-epochs must be 0 or more, got {self.warmup_epochs}")
        if self.warmup_epochs and self.warmup_epochs >= self.epochs:
            raise UserError(f"--warmup-epochs ({self.warmup_epochs}) must be less than --epochs ({self.epochs}), "
                            "so that the schedule has epochs after the warmup")
        if self.warmup_epochs and self.scheduler in METRIC_SCHEDULERS:
            raise UserError(f"--warmup-epochs does not chain with --scheduler {self.scheduler} (it reacts to "
                            "validation, not to the epoch count); use cosine, step or none")
        if self.cache_features and (self.mixup or self.cutmix):
            raise UserError("--mixup/--cutmix mix images, and --cache-features trains on cached features; drop one")
        if self.seeds:
            if self.folds:
                raise UserError("--seeds and --folds: repeat a single train/val split over seeds (--seeds) or "
                                "cross-validate (--folds, whose mean ± std is over folds); give one of them")
            if len(set(self.seeds)) != len(self.seeds):
                raise UserError(f"--seeds must be different from each other, got {' '.join(map(str, self.seeds))}")
        elif self.resplit_per_seed:
            raise UserError("--resplit-per-seed needs --seeds")
        for spec in self.callbacks:
            parse_plugin(spec)

    def _validate_starting_weights(self) -> None:
        if self.pretrained and self.weights:
            raise UserError("--pretrained and --weights both set the starting weights: give one of them")
        if self.weights and not Path(self.weights).is_file():
            raise UserError(f"--weights: no such file: {self.weights}{did_you_mean_path(self.weights)}")
        if self.unfreeze_at_epoch is not None:
            if not self.freeze_backbone:
                raise UserError("--unfreeze-at-epoch needs --freeze-backbone (the backbone is frozen until then)")
            if not 1 <= self.unfreeze_at_epoch < self.epochs:
                raise UserError(f"--unfreeze-at-epoch must be between 1 and --epochs - 1 ({self.epochs - 1}), got "
                                f"{self.unfreeze_at_epoch}; leave it out to keep the backbone frozen")
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
        if self.plots_every_epoch:
            raise UserError("--cache-features and --plots-every-epoch: the per-epoch Grad-CAM gallery needs images, "
                            "and training sees only cached features; drop --plots-every-epoch (the final gallery "
                            "is still written)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        """Write the resolved config as YAML that ``--config`` accepts back."""
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True), encoding="utf-8")


# The parameters of the losses (focal_gamma -> --focal-gamma) are declared beside each loss in
# litcls.recipe.losses, so that adding a loss is one entry there; they become the last fields of the config.
TrainConfig = dataclasses.make_dataclass(  # type: ignore[misc]
    "TrainConfig", [(parameter.name, float, _opt(parameter.default, parameter.help, group="recipe"))
                    for parameter in loss_parameters()],
    bases=(TrainConfig,), namespace={"__doc__": TrainConfig.__doc__, "__module__": __name__})


def _flag(field_name: str) -> str:
    return field_name.replace("_", "-")


def config_fields() -> tuple[dataclasses.Field, ...]:
    return dataclasses.fields(TrainConfig)


def field_type(f: dataclasses.Field) -> type:
    """The type of a field's values: ``int`` for ``img_size: int | None``, ``list`` for lists."""
    hint = typing.get_type_hints(TrainConfig)[f.name]
    if typing.get_origin(hint) is list:
        return list
    return next(arg for arg in typing.get_args(hint) or [hint] if arg is not type(None))


def item_type(f: dataclasses.Field) -> type:
    """The type of a list field's items: ``int`` for ``seeds: list[int]``."""
    return typing.get_args(typing.get_type_hints(TrainConfig)[f.name])[0]


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a config file into a dict of known keys (``img-size`` and ``img_size`` both accepted)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--config: no such file: {path}{did_you_mean_path(path)}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise UserError(f"--config: {path} is not valid YAML: {err}") from None
    except UnicodeDecodeError:
        raise UserError(f"--config: {path} is not a text file; pass a YAML file such as a run's config.yaml") from None
    if not isinstance(raw, dict):
        raise UserError(f"--config: {path} must hold a mapping of keys to values, got {type(raw).__name__}")
    known = {f.name for f in config_fields()}
    values = {str(key).replace("-", "_"): value for key, value in raw.items()}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(f"--config: {path} has unknown keys: {', '.join(unknown)}"
                        f"{did_you_mean(unknown[0], known)}; valid keys: {', '.join(sorted(known))}")
    return values


def resolve(file_values: dict[str, Any], flag_values: dict[str, Any]) -> TrainConfig:
    """Merge defaults < file < flags into a validated config."""
    merged = {**file_values, **flag_values}
    config = TrainConfig()
    for f in config_fields():
        if f.name in merged:
            setattr(config, f.name, _coerce(f, merged[f.name]))
    return config.validate()


def _coerce(f: dataclasses.Field, value: Any) -> Any:
    """Convert a YAML or flag value to the field's type, with a message naming the key."""
    default = getattr(TrainConfig(), f.name)
    kind = field_type(f)
    try:
        if value is None:
            if default is None:
                return None
            raise ValueError("it may not be empty")
        if kind is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(f"{value!r} is not true or false")
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        if kind is list:
            item = item_type(f)
            return [item(v) for v in (value if isinstance(value, list) else [value])]
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{value} is not a whole number")
            return int(value)
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError) as err:
        raise UserError(f"--{_flag(f.name)}: invalid value {value!r}: {err}") from None
