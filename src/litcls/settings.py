"""What every part's settings are made of: dataclass fields that carry their flag's help, choices and help group,
and the checks most parts need. A part (``data.settings.DataSettings``, ...) owns its fields and rules;
:mod:`litcls.config` gathers the parts into one configuration with flat keys (``img_size``, ``--img-size``).

Imports nothing heavy, so ``train.py --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import field
from typing import Any

from litcls.errors import UserError
from litcls.suggest import did_you_mean


def setting(default: Any, help: str, choices: tuple[str, ...] | None = None, group: str = "training",
            key: str | None = None, parse: Callable[[Any], Any] | None = None) -> Any:
    """A part's field with its command-line help, choices and help group; ``key`` is its flag and YAML key where
    it differs from the field's name (``DataSettings.source`` is ``--data``); ``parse`` turns a flag's or a YAML
    file's value into the field's value, raising ValueError for a bad one (``--img-size 48x64``)."""
    meta = {"help": help, "choices": choices, "group": group, "key": key, "parse": parse}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def key_of(f: dataclasses.Field) -> str:
    """A field's flat key: ``img_size`` (``--img-size``, ``img_size:`` in YAML)."""
    return f.metadata.get("key") or f.name


def flag(part: object, name: str) -> str:
    """The command-line flag of ``part``'s field ``name``: ``--img-size``."""
    found = next(f for f in dataclasses.fields(part) if f.name == name)
    return "--" + key_of(found).replace("_", "-")


def check_choices(part: object, exempt: Callable[[str, Any], bool] = lambda name, value: False) -> None:
    """Every field with choices holds one of them (each item, for a list), but the values ``exempt(name, value)``
    lets through (a logger given by import path)."""
    for f in dataclasses.fields(part):
        choices = f.metadata.get("choices")
        values = getattr(part, f.name)
        for value in values if isinstance(values, list) else [values]:
            if choices and value not in choices and not exempt(f.name, value):
                raise UserError(f"{flag(part, f.name)}: unknown value {value!r}{did_you_mean(value, choices)}; "
                                f"valid values: {', '.join(choices)}")


def check_at_least(part: object, minimum: int, *names: str) -> None:
    """Each named field is None or at least ``minimum``."""
    for name in names:
        value = getattr(part, name)
        if value is not None and value < minimum:
            wanted = "0 or more" if minimum == 0 else f"at least {minimum}"
            raise UserError(f"{flag(part, name)} must be {wanted}, got {value}")


def check_fraction(part: object, *names: str) -> None:
    """Each named field is in [0, 1)."""
    for name in names:
        value = getattr(part, name)
        if not 0 <= value < 1:
            raise UserError(f"{flag(part, name)} must be in [0, 1), got {value}")
