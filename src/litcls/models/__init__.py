"""Models: every module in this package registers its builders on import.

Adding a model is one new file here with ``@register_model`` on its builder; it is found automatically.
"""

import importlib

from litcls.model_names import model_modules
from litcls.models.registry import ModelSpec, build_model, get_model_spec, list_models, register_model

for _module in model_modules():
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["ModelSpec", "build_model", "get_model_spec", "list_models", "register_model"]
