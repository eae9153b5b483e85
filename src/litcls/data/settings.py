"""The data part of the configuration: where the images are, how they are split, resized, augmented and
batched, with the rules these settings must follow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from litcls.data.presets import augment_presets
from litcls.errors import UserError
from litcls.settings import check_at_least, check_choices, check_fraction, setting
from litcls.suggest import did_you_mean, did_you_mean_path

AUGMENT_PRESETS = augment_presets()  # the YAML files in litcls/data/augment_presets/
BALANCE = ("none", "sampler", "loss")
UNCERTAIN = ("ignore", "zeros", "ones")
MISSING = ("negative", "ignore")


@dataclass
class DataSettings:
    """``--data`` and what reads, splits and loads it."""

    source: str = setting("digits", "image folder (root/<class>/<img> or root/train|val|test/<class>/<img>), a CSV "
                          "or TSV manifest (one row per image; see --path-col, --label-col), or a built-in dataset "
                          "name: digits, digits-grid (multi-label), mnist, fashion_mnist, cifar10", group="data",
                          key="data")
    path_col: str = setting("path", "manifest: the column of image paths (relative to --image-root), or a template "
                            "over columns such as images/{image_id}.jpg", group="data")
    label_col: str = setting("label", "manifest: the column of class names (any text; numbers too)", group="data")
    label_sep: str | None = setting(None, "manifest, multi-label: the separator of the labels within --label-col "
                                    "(e.g. '|' for 'Cardiomegaly|Effusion'); each image may have any set of labels",
                                    group="data")
    negative_label: str | None = setting(None, "multi-label with --label-sep: the --label-col value that means no "
                                         "label at all (e.g. 'No Finding')", group="data")
    label_cols: str | None = setting(None, "manifest, multi-label: comma-separated columns, one per label, each "
                                     "cell 1 (positive), 0 (negative), -1 (uncertain) or blank (not mentioned)",
                                     group="data")
    uncertain: str = setting("ignore", "multi-label: a -1 (uncertain) cell is ignored (left out of the loss and of "
                             "that label's metrics), or read as 0 (zeros) or 1 (ones)", UNCERTAIN, group="data")
    missing: str = setting("negative", "multi-label: a blank (not mentioned) cell is negative (the CheXpert "
                           "labeler's convention) or ignored", MISSING, group="data")
    group_col: str | None = setting(None, "manifest: the column of groups (a patient, a lesion): all images of a "
                                    "group go to the same split and fold", group="data")
    split_col: str | None = setting(None, "manifest: the column of given splits (train, val, test)", group="data")
    image_root: str | None = setting(None, "manifest: the folder image paths are relative to (default: the "
                                     "manifest's folder)", group="data")
    group_pattern: str | None = setting(None, "a regular expression whose first capture group, searched in each "
                                        "image's path, is its group, e.g. 'person(\\d+)_'; every image must match",
                                        group="data")
    resplit_val: bool = setting(False, "ignore a given validation split (val/ folder or --split-col) and carve "
                                "validation from the training images instead, stratified (by group with groups)",
                                group="data")
    slice_cols: str | None = setting(None, "manifest: comma-separated metadata columns (e.g. sex,site) whose values "
                                     "get their own accuracy and macro F1 in slices.csv and the report",
                                     group="data")
    img_size: int | None = setting(None, "images are resized to IMG_SIZE x IMG_SIZE pixels (default: the size "
                                   "the model suits, see --list-models, or the size its --pretrained or "
                                   "--weights were trained at)", group="data")
    val_size: float = setting(0.15, "fraction of images for validation, in (0, 1)", group="data")
    test_size: float = setting(0.15, "fraction of images for the test split, in [0, 1); 0 = no test split",
                               group="data")
    augment: str = setting("light", f"training augmentation: a preset ({', '.join(AUGMENT_PRESETS)}) or an "
                           "albumentations YAML file", group="data")
    batch_size: int | None = setting(None, "images per batch (per device); default: chosen from the size of the "
                                     "training split, the largest of 64, 32, 16, 8 that gives at least 10 optimizer "
                                     "steps per epoch, and recorded in config.yaml", group="data")
    num_workers: int = setting(2, "data-loading worker processes (0 = load in the main process)", group="data")
    seed: int = setting(42, "seed for the split, weight initialisation and augmentation", group="data")
    balance: str = setting("none", "counter class imbalance: sampler (draw every class equally often) or loss "
                           "(weigh the training loss by inverse class frequency)", BALANCE, group="data")
    groups: str | None = setting(None, "CSV file with columns path, group (e.g. a patient id): all images of a "
                                 "group go to the same split and fold", group="cross-validation")
    dedupe: bool = setting(False, "keep one copy of byte-identical images (the first by path) before splitting",
                           group="cross-validation")

    def validate(self) -> None:
        """Check values that need no heavy import; raise UserError naming the flag at fault."""
        check_fraction(self, "val_size", "test_size")
        if self.val_size == 0:
            raise UserError("--val-size must be greater than 0: early stopping and the best checkpoint "
                            "are chosen on the validation split")
        if self.val_size + self.test_size >= 1:
            raise UserError(f"--val-size + --test-size must leave images for training, got "
                            f"{self.val_size} + {self.test_size} >= 1")
        check_at_least(self, 1, "img_size", "batch_size")
        check_at_least(self, 0, "num_workers")
        check_choices(self)
        if self.groups is not None and not Path(self.groups).is_file():
            raise UserError(f"--groups: no such file: {self.groups}{did_you_mean_path(self.groups)}")
        sources = [flag for flag, value in (("--groups", self.groups), ("--group-col", self.group_col),
                                            ("--group-pattern", self.group_pattern)) if value]
        if len(sources) > 1:
            raise UserError(f"{' and '.join(sources)} both give the images' groups: use one of them")
        self._validate_multi_label()
        if self.augment not in AUGMENT_PRESETS and not Path(self.augment).is_file():
            near = did_you_mean_path(self.augment) if len(Path(self.augment).parts) > 1 else ""
            raise UserError(f"--augment: {self.augment!r} is neither a preset ({', '.join(AUGMENT_PRESETS)}) "
                            f"nor an existing YAML file{near or did_you_mean(self.augment, AUGMENT_PRESETS)}")

    @property
    def multi_label(self) -> bool:
        """Whether the flags ask for a multi-label task (``--label-sep`` or ``--label-cols``)."""
        return bool(self.label_sep or self.label_cols)

    def _validate_multi_label(self) -> None:
        if self.label_sep and self.label_cols:
            raise UserError("--label-sep and --label-cols both give the labels: --label-sep splits one column "
                            "(--label-col), --label-cols names one column per label; use one of them")
        if self.label_sep == "":
            raise UserError("--label-sep is empty: give the character between labels, e.g. --label-sep '|'")
        if self.negative_label and not self.label_sep:
            raise UserError("--negative-label names the --label-col value meaning no label, so it needs "
                            "--label-sep (e.g. --label-sep '|' --negative-label 'No Finding')")
        changed = [flag for flag, value, default in (("--uncertain", self.uncertain, "ignore"),
                                                     ("--missing", self.missing, "negative")) if value != default]
        if changed and not self.label_cols:
            raise UserError(f"{' and '.join(changed)} read the -1 and blank cells of --label-cols (one column per "
                            "label); without --label-cols there are none")
        if self.multi_label and self.balance == "sampler":
            raise UserError("--balance sampler draws images by their one class; a multi-label image has several: "
                            "use --balance loss (a positive weight per label) or --balance none")
        if self.label_cols is not None and not [name for name in self.label_cols.split(",") if name.strip()]:
            raise UserError("--label-cols is empty: name the label columns, e.g. --label-cols Atelectasis,Edema")
