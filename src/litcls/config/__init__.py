"""The run configuration: typed defaults < YAML file < command-line flags.

Each part owns its settings and their rules, beside the code that uses them: :class:`DataSettings`
(``litcls.data.settings``), :class:`RecipeSettings` (``litcls.recipe.settings``), :class:`EvaluationSettings`
(``litcls.evaluation.settings``); :class:`ModelSettings`, :class:`OutputSettings`, :class:`HardwareSettings` and
:class:`RepeatSettings` in this package, where the code that uses them sits above it or imports torch on import.
:class:`TrainConfig` gathers them (``config.data.img_size``) and checks the few rules between parts.

Outside the code the configuration is flat: every field is one flag (``img_size`` -> ``--img-size``) and one YAML
key (``img_size`` or ``img-size``), and ``config.yaml`` is written with flat keys. This package imports nothing
heavy (no torch), so ``train.py --help`` and config validation stay fast.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from litcls.config.hardware import HardwareSettings
from litcls.config.model import ModelSettings
from litcls.config.output import OutputSettings
from litcls.config.repeats import RepeatSettings
from litcls.data.settings import AUGMENT_PRESETS, DataSettings
from litcls.errors import UserError
from litcls.evaluation.settings import MONITORS, EvaluationSettings
from litcls.recipe.settings import RecipeSettings
from litcls.settings import key_of
from litcls.suggest import did_you_mean, did_you_mean_path

__all__ = ["AUGMENT_PRESETS", "MONITORS", "DataSettings", "EvaluationSettings", "HardwareSettings", "Key",
           "ModelSettings", "OutputSettings", "RecipeSettings", "RepeatSettings", "TrainConfig", "config_fields",
           "field_type", "item_type", "load_yaml", "resolve"]


@dataclass
class TrainConfig:
    """Everything a run needs, by part; saved as ``config.yaml`` (flat keys) in the run folder and re-runnable."""

    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    recipe: RecipeSettings = field(default_factory=RecipeSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    hardware: HardwareSettings = field(default_factory=HardwareSettings)
    repeats: RepeatSettings = field(default_factory=RepeatSettings)

    @classmethod
    def of(cls, **values: Any) -> TrainConfig:
        """A config from flat keys, as flags and YAML give them (``TrainConfig.of(data="digits", img_size=32)``);
        not validated."""
        return cls().replace(**values)

    def replace(self, **values: Any) -> TrainConfig:
        """A copy with the flat keys ``values`` changed (``config.replace(seed=1, name="x")``)."""
        unknown = sorted(set(values) - set(KEYS))
        if unknown:
            raise TypeError(f"unknown configuration keys: {', '.join(unknown)}")
        changes: dict[str, dict[str, Any]] = {}
        for name, value in values.items():
            changes.setdefault(KEYS[name].part, {})[KEYS[name].field.name] = value
        return dataclasses.replace(self, **{part: dataclasses.replace(getattr(self, part), **fields)
                                            for part, fields in changes.items()})

    def validate(self) -> TrainConfig:
        """Check every part's values, then the rules between parts; raise UserError naming the flag at fault."""
        for part in PARTS:
            getattr(self, part).validate()
        model, recipe = self.model, self.recipe
        if model.unfreeze_at_epoch is not None and not 1 <= model.unfreeze_at_epoch < recipe.max_epochs:
            raise UserError(f"--unfreeze-at-epoch must be between 1 and --epochs - 1 ({recipe.max_epochs - 1}), "
                            f"got {model.unfreeze_at_epoch}; leave it out to keep the backbone frozen")
        if model.cache_features and (recipe.mixup or recipe.cutmix):
            raise UserError("--mixup/--cutmix mix images, and --cache-features trains on cached features; drop one")
        if model.cache_features and self.evaluation.plots_every_epoch:
            raise UserError("--cache-features and --plots-every-epoch: the per-epoch Grad-CAM gallery needs images, "
                            "and training sees only cached features; drop --plots-every-epoch (the final gallery "
                            "is still written)")
        if self.repeats.fold is not None and not self.output.name:
            raise UserError("--fold needs --name: the fold jobs of one experiment share the run folder "
                            "<out-dir>/<name>")
        if self.data.multi_label and self.evaluation.positive_class:
            flag = "--label-sep" if self.data.label_sep else "--label-cols"
            raise UserError(f"--positive-class and {flag}: in a multi-label run every label is a positive class "
                            "with its own threshold; leave --positive-class out")
        if self.data.resplit_val and self.repeats.folds:
            raise UserError("--resplit-val and --folds: k-fold already pools every image outside the test split "
                            "into its validation folds; drop --resplit-val")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The flat keys and their values, as ``config.yaml`` holds them."""
        return {name: getattr(getattr(self, key.part), key.field.name) for name, key in KEYS.items()}

    def save(self, path: Path) -> None:
        """Write the resolved config as YAML that ``--config`` accepts back."""
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True), encoding="utf-8")


@dataclass(frozen=True)
class Key:
    """One flat key of the configuration (``img_size``): a field of one part (``data``)."""

    name: str
    part: str
    field: dataclasses.Field

    @property
    def metadata(self) -> typing.Mapping[str, Any]:
        """The field's help, choices and help group."""
        return self.field.metadata


PARTS: dict[str, type] = typing.get_type_hints(TrainConfig)
KEYS: dict[str, Key] = {key_of(f): Key(key_of(f), part, f) for part, cls in PARTS.items()
                        for f in dataclasses.fields(cls)}


def config_fields() -> tuple[Key, ...]:
    """Every flat key, in the order of the parts and their fields (the order of ``--help`` and ``config.yaml``)."""
    return tuple(KEYS.values())


def field_type(key: Key) -> type:
    """The type of a key's values: ``int`` for ``img_size: int | None``, ``list`` for lists."""
    hint = typing.get_type_hints(PARTS[key.part])[key.field.name]
    if typing.get_origin(hint) is list:
        return list
    return next(arg for arg in typing.get_args(hint) or [hint] if arg is not type(None))


def item_type(key: Key) -> type:
    """The type of a list key's items: ``int`` for ``seeds: list[int]``."""
    return typing.get_args(typing.get_type_hints(PARTS[key.part])[key.field.name])[0]


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
    values = {str(key).replace("-", "_"): value for key, value in raw.items()}
    unknown = sorted(set(values) - set(KEYS))
    if unknown:
        raise UserError(f"--config: {path} has unknown keys: {', '.join(unknown)}"
                        f"{did_you_mean(unknown[0], KEYS)}; valid keys: {', '.join(sorted(KEYS))}")
    return values


def resolve(file_values: dict[str, Any], flag_values: dict[str, Any]) -> TrainConfig:
    """Merge defaults < file < flags into a validated config."""
    merged = {**file_values, **flag_values}
    return TrainConfig.of(**{name: _coerce(KEYS[name], value) for name, value in merged.items()}).validate()


def _coerce(key: Key, value: Any) -> Any:
    """Convert a YAML or flag value to the key's type, with a message naming the key."""
    default = TrainConfig().to_dict()[key.name]
    kind = field_type(key)
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
            item = item_type(key)
            return [item(v) for v in (value if isinstance(value, list) else [value])]
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{value} is not a whole number")
            return int(value)
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError) as err:
        raise UserError(f"--{key.name.replace('_', '-')}: invalid value {value!r}: {err}") from None
