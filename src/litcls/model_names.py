"""The names ``--model`` accepts, known without importing :mod:`litcls.models` (that imports torch, torchvision,
timm and Lightning: seconds), so that ``train.py`` refuses a mistyped name before any of them load.

The registered names are read from the source of the model modules: every ``@register_model`` in them, named by
its ``name`` argument or else by the function it decorates. So a new model file is known here as soon as it is
written, and ``tests/test_models.py`` checks these names against the registry once it is imported.
"""

from __future__ import annotations

import ast
import pkgutil
import sys
from collections.abc import Iterable
from pathlib import Path

from litcls.errors import UserError
from litcls.suggest import did_you_mean

MODELS_DIR = Path(__file__).parent / "models"
TIMM_PREFIX = "timm/"  # timm/<name>: any timm model
NOT_MODEL_MODULES = ("registry", "module", "compile", "gradcam")  # the package's modules that register no model


def model_modules() -> list[str]:
    """The modules of :mod:`litcls.models` that register models (the package imports them all)."""
    return [module.name for module in pkgutil.iter_modules([str(MODELS_DIR)]) if module.name not in NOT_MODEL_MODULES]


def is_registered_name(name: str) -> bool:
    """Whether ``name`` is looked up in the registry, not a timm model (``timm/<name>``) or an import path
    (``pkg.module:builder``); the order is :func:`litcls.models.registry.get_model_spec`'s."""
    return not name.startswith(TIMM_PREFIX) and ":" not in name


def unknown_model(name: str, registered: Iterable[str]) -> UserError:
    """The refusal of a name that is none of the ``registered`` ones (in the order registered), with the closest
    of them."""
    registered = list(registered)
    return UserError(f"--model: unknown model {name!r}{did_you_mean(name, registered)}; valid models: "
                     f"{', '.join(sorted(registered))}, timm/<any timm model> or pkg.module:builder")


def registered_in_source() -> list[str] | None:
    """The names the model modules register, in the order they do, read from their source; None when a
    registration's name is not written out (a variable, a call outside a decorator): only the registry can tell."""
    names: list[str] = []
    for module in model_modules():
        path = MODELS_DIR / f"{module}.py"
        if not path.is_file():
            path = MODELS_DIR / module / "__init__.py"
        found = _registered_in(ast.parse(path.read_text(encoding="utf-8")))
        if found is None:
            return None
        names += found
    return names


def _registered_in(tree: ast.Module) -> list[str] | None:
    decorated = {id(decorator): node.name for node in ast.walk(tree)
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                 for decorator in node.decorator_list}
    calls = sorted((node for node in ast.walk(tree)
                    if isinstance(node, ast.Call) and _called_name(node.func) == "register_model"),
                   key=lambda node: (node.lineno, node.col_offset))
    names = []
    for call in calls:
        given = call.args[0] if call.args else next((kw.value for kw in call.keywords if kw.arg == "name"), None)
        if isinstance(given, ast.Constant) and given.value is None:
            given = None
        if given is None and id(call) in decorated:
            names.append(decorated[id(call)])
        elif isinstance(given, ast.Constant) and isinstance(given.value, str):
            names.append(given.value)
        else:
            return None
    return names


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def check_model_name(name: str) -> None:
    """Refuse a ``--model`` that would be looked up in the registry and is registered in no model module, in
    milliseconds. A name registered at run time (a script that registers its builder, then calls ``train.py``'s
    main) is left to the registry: once :mod:`litcls.models` is imported, it answers at no cost."""
    if not is_registered_name(name) or "litcls.models" in sys.modules:
        return
    registered = registered_in_source()
    if registered is not None and name not in registered:
        raise unknown_model(name, registered)
