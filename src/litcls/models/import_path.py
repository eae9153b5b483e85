"""A model of the user's own by import path: ``--model pkg.module:builder``, nothing registered in the package.

The builder takes ``num_classes`` and, if it declares them, ``img_size`` and ``in_chans``; it returns an
``nn.Module`` giving (B, num_classes) scores. The checkpoint records the import path as the model's name, so
``predict.py``, the demo and the export rebuild it wherever the package imports (its folder on ``PYTHONPATH``).
Optional attributes of the builder: ``input_size`` (the image size used when ``--img-size`` is not given, default
224) and ``head`` (the head's submodule name, default the model's ``get_classifier()`` or its last ``nn.Linear``).
"""

from __future__ import annotations

import importlib

from litcls.errors import UserError
from litcls.models.spec import ModelSpec

DEFAULT_INPUT_SIZE = 224


def import_path_spec(path: str) -> ModelSpec:
    """The spec of the builder ``pkg.module:builder``.

    Raises:
        UserError: a malformed path, a module that does not import, a name it lacks or that is not callable.
    """
    module_name, _, name = path.partition(":")
    if not module_name or not name.isidentifier():
        raise UserError(f"--model {path!r}: expected a registered name, timm/<name> or pkg.module:builder")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise UserError(f"--model {path}: cannot import {module_name} ({err}); put the folder that holds it on "
                        "PYTHONPATH (the checkpoint names the model by this import path)") from None
    builder = getattr(module, name, None)
    if not callable(builder):
        raise UserError(f"--model {path}: {module_name} has no function {name!r} "
                        f"(a builder taking num_classes and returning an nn.Module)")
    doc = (builder.__doc__ or "").strip().splitlines()
    return ModelSpec(path, builder, int(getattr(builder, "input_size", DEFAULT_INPUT_SIZE)), doc[0] if doc else "",
                     head=getattr(builder, "head", None))
