"""Model registry: a name -> a tiny builder ``(num_classes, img_size) -> nn.Module``; ``img_size`` is (height,
width). A builder that also takes ``in_chans`` builds for 1 (grey) or 3 (RGB) channels itself; any other gets its
first RGB convolution replaced (:func:`~litcls.models.spec.set_input_channels`; pretrained weights are summed
over RGB when loaded, :func:`~litcls.models.weights.adapt_input_channels`).

Register a model with the decorator; a duplicate name is refused so two files cannot silently shadow
each other::

    @register_model(input_size=32)
    def tiny_cnn(num_classes: int, img_size: int) -> nn.Module:
        \"\"\"Two conv layers.\"\"\"
        return TinyCNN(num_classes)

Two more kinds of names resolve without registering: ``timm/<name>`` is any timm model
(:mod:`litcls.models.timm_models`), ``pkg.module:builder`` a builder of the user's own, imported by path
(:mod:`litcls.models.import_path`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import nn

from litcls.data.image_size import ImageSize
from litcls.model_names import TIMM_PREFIX, unknown_model
from litcls.models.import_path import import_path_spec
from litcls.models.spec import Builder, ModelSpec, set_input_channels
from litcls.models.timm_models import timm_spec

if TYPE_CHECKING:
    from litcls.models.weights import StartingWeights

__all__ = ["TIMM_PREFIX", "ModelSpec", "build_model", "get_model_spec", "list_models", "register_model",
           "set_input_channels"]

_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str | None = None, *, input_size: int, pretrained: Callable[[], StartingWeights] | None = None,
                   pretrained_name: str | None = None, head: str | None = None) -> Callable[[Builder], Builder]:
    """Register a builder under ``name`` (default: the function's name).

    Args:
        name: registry key used by ``--model``.
        input_size: the image size (pixels) the model is designed for, shown by ``--list-models`` and used
            when ``--img-size`` is not given.
        pretrained: reads the weights ``--pretrained`` loads (they also set the preprocessing), e.g.
            :func:`litcls.models.torchvision_weights.torchvision_weights`.
        pretrained_name: how ``--list-models`` names those weights.
        head: name of the submodule that outputs the class scores (default: the last ``nn.Linear``).
    """

    def decorator(builder: Builder) -> Builder:
        key = name or builder.__name__
        if key in _REGISTRY:
            raise ValueError(f"model name {key!r} is already registered by {_REGISTRY[key].builder.__module__}")
        doc = (builder.__doc__ or "").strip().splitlines()
        _REGISTRY[key] = ModelSpec(key, builder, input_size, doc[0] if doc else "", pretrained, head,
                                   pretrained_name or getattr(pretrained, "name", None))
        return builder

    return decorator


def get_model_spec(name: str) -> ModelSpec:
    """The registered model ``name``, a timm model (``timm/<name>``) or a builder by import path
    (``pkg.module:builder``)."""
    if name.startswith(TIMM_PREFIX):
        return timm_spec(name.removeprefix(TIMM_PREFIX))
    if ":" in name:
        return import_path_spec(name)
    if name not in _REGISTRY:
        raise unknown_model(name, _REGISTRY)
    return _REGISTRY[name]


def build_model(name: str, num_classes: int, img_size: int | ImageSize | None = None, in_chans: int = 3) -> nn.Module:
    """Build the model ``name`` with a head of ``num_classes`` outputs for ``in_chans`` channels."""
    return get_model_spec(name).build(num_classes, img_size, in_chans)


def list_models() -> list[ModelSpec]:
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]
