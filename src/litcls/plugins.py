"""User callbacks named on the command line (``--callbacks pkg.module:Class[:{"arg": 1}]``), added to the Trainer
without editing the package, as lightning-hydra-template's ``callbacks:`` config does.

Parsing imports nothing heavy (the configuration checks the syntax); :func:`load_callbacks` imports the targets,
checks each is a Lightning ``Callback`` and instantiates it, before any training.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from litcls.errors import UserError

FORM = 'pkg.module:Class or pkg.module:Class:{"arg": 1}'


def parse_callback(spec: str) -> tuple[str, str, dict[str, Any]]:
    """``"pkg.mod:Class:{\\"a\\": 1}"`` -> ``("pkg.mod", "Class", {"a": 1})``."""
    module, _, rest = spec.partition(":")
    name, _, arguments = rest.partition(":")
    if not module or not name.isidentifier():
        raise UserError(f"--callbacks {spec!r}: expected {FORM}")
    kwargs: Any = {}
    if arguments:
        try:
            kwargs = json.loads(arguments)
        except json.JSONDecodeError as err:
            raise UserError(f"--callbacks {spec!r}: the keyword arguments are not JSON ({err})") from None
        if not isinstance(kwargs, dict):
            raise UserError(f"--callbacks {spec!r}: the keyword arguments must be a JSON object, e.g. {{\"arg\": 1}}")
    return module, name, kwargs


def load_callbacks(specs: list[str]) -> list[Any]:
    """Import, check and instantiate every callback of ``specs``.

    Raises:
        UserError: a module that does not import, a name it lacks, an object that is not a Lightning Callback
            (class or instance), or arguments its constructor refuses.
    """
    from lightning.pytorch.callbacks import Callback

    callbacks = []
    for spec in specs:
        module_name, name, kwargs = parse_callback(spec)
        try:
            target = getattr(importlib.import_module(module_name), name)
        except ImportError as err:
            raise UserError(f"--callbacks {spec!r}: cannot import {module_name} ({err}); is its folder on "
                            "PYTHONPATH?") from None
        except AttributeError:
            raise UserError(f"--callbacks {spec!r}: {module_name} has no {name}") from None
        if not (isinstance(target, type) and issubclass(target, Callback)):
            raise UserError(f"--callbacks {spec!r}: {module_name}.{name} is not a Lightning Callback class "
                            "(lightning.pytorch.Callback)")
        try:
            callbacks.append(target(**kwargs))
        except TypeError as err:
            raise UserError(f"--callbacks {spec!r}: {name}(**{kwargs}) failed: {err}") from None
    return callbacks
