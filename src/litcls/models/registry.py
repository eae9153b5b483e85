"""Model registry: a name -> a tiny builder ``(num_classes, img_size) -> nn.Module``.

Register a model with the decorator; a duplicate name is refused so two files cannot silently shadow
each other::

    @register_model(input_size=32)
    def tiny_cnn(num_classes: int, img_size: int) -> nn.Module:
        \"\"\"Two conv layers.\"\"\"
        return TinyCNN(num_classes)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from litcls.errors import UserError

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its builder and the image size it suits."""

    name: str
    builder: Builder
    input_size: int
    description: str

    def build(self, num_classes: int, img_size: int | None = None) -> nn.Module:
        return self.builder(num_classes=num_classes, img_size=img_size or self.input_size)

    def num_parameters(self, num_classes: int = 10) -> int:
        return sum(p.numel() for p in self.build(num_classes).parameters())


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str | None = None, *, input_size: int) -> Callable[[Builder], Builder]:
    """Register a builder under ``name`` (default: the function's name).

    Args:
        name: registry key used by ``--model``.
        input_size: the image size (pixels) the model is designed for, shown by ``--list-models``.
    """

    def decorator(builder: Builder) -> Builder:
        key = name or builder.__name__
        if key in _REGISTRY:
            raise ValueError(f"model name {key!r} is already registered by {_REGISTRY[key].builder.__module__}")
        doc = (builder.__doc__ or "").strip().splitlines()
        _REGISTRY[key] = ModelSpec(key, builder, input_size, doc[0] if doc else "")
        return builder

    return decorator


def get_model_spec(name: str) -> ModelSpec:
    if name not in _REGISTRY:
        raise UserError(f"--model: unknown model {name!r}; valid models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def build_model(name: str, num_classes: int, img_size: int | None = None) -> nn.Module:
    """Build the registered model ``name`` with a head of ``num_classes`` outputs."""
    return get_model_spec(name).build(num_classes, img_size)


def list_models() -> list[ModelSpec]:
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]
