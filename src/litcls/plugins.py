"""Objects named on the command line by import path (``--callbacks pkg.module:Class[:{"arg": 1}]``, and
``--logger`` the same way), used without editing the package, as lightning-hydra-template's ``callbacks:`` config
does.

Parsing imports nothing heavy (the configuration checks the syntax); :func:`import_plugin` imports the target and
checks it is a class of the expected Lightning kind, before any training; :func:`instantiate` builds it.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from litcls.errors import UserError

FORM = 'pkg.module:Class or pkg.module:Class:{"arg": 1}'


def is_import_path(value: str) -> bool:
    """True for ``pkg.module:Class...``, false for a built-in name such as ``csv``."""
    return ":" in value


def parse_plugin(spec: str, flag: str = "--callbacks") -> tuple[str, str, dict[str, Any]]:
    """``"pkg.mod:Class:{\\"a\\": 1}"`` -> ``("pkg.mod", "Class", {"a": 1})``; ``flag`` names the option in errors."""
    module, _, rest = spec.partition(":")
    name, _, arguments = rest.partition(":")
    if not module or not name.isidentifier():
        raise UserError(f"{flag} {spec!r}: expected {FORM}")
    kwargs: Any = {}
    if arguments:
        try:
            kwargs = json.loads(arguments)
        except json.JSONDecodeError as err:
            raise UserError(f"{flag} {spec!r}: the keyword arguments are not JSON ({err})") from None
        if not isinstance(kwargs, dict):
            raise UserError(f"{flag} {spec!r}: the keyword arguments must be a JSON object, e.g. {{\"arg\": 1}}")
    return module, name, kwargs


def import_plugin(spec: str, flag: str, base: type, base_name: str) -> tuple[type, dict[str, Any]]:
    """The class ``spec`` names and its keyword arguments.

    Args:
        base: the class it must derive from (Lightning's ``Callback``, ``Logger``).
        base_name: how the error message names ``base`` (``lightning.pytorch.Callback``).

    Raises:
        UserError: a module that does not import, a name it lacks, or an object that is not a subclass of ``base``.
    """
    module_name, name, kwargs = parse_plugin(spec, flag)
    try:
        target = getattr(importlib.import_module(module_name), name)
    except ImportError as err:
        raise UserError(f"{flag} {spec!r}: cannot import {module_name} ({err}); is its folder on PYTHONPATH?") from None
    except AttributeError:
        raise UserError(f"{flag} {spec!r}: {module_name} has no {name}") from None
    if not (isinstance(target, type) and issubclass(target, base)):
        raise UserError(f"{flag} {spec!r}: {module_name}.{name} is not a Lightning {base.__name__} class "
                        f"({base_name})")
    return target, kwargs


def instantiate(spec: str, flag: str, target: type, kwargs: dict[str, Any]) -> Any:
    """``target(**kwargs)``; arguments its constructor refuses are the user's mistake, said in one line."""
    try:
        return target(**kwargs)
    except TypeError as err:
        raise UserError(f"{flag} {spec!r}: {target.__name__}(**{kwargs}) failed: {err}") from None


def load_callbacks(specs: list[str]) -> list[Any]:
    """Import, check and instantiate every callback of ``specs`` (``--callbacks``).

    Raises:
        UserError: see :func:`import_plugin` and :func:`instantiate`.
    """
    from lightning.pytorch.callbacks import Callback

    flag = "--callbacks"
    return [instantiate(spec, flag, *import_plugin(spec, flag, Callback, "lightning.pytorch.Callback"))
            for spec in specs]
