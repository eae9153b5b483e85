"""Model registry: a name -> a tiny builder ``(num_classes, img_size) -> nn.Module``; ``img_size`` is (height,
width). A builder that also takes ``in_chans`` builds for 1 (grey) or 3 (RGB) channels itself; any other gets its
first convolution adapted after building (:func:`~litcls.models.first_conv.adapt_first_conv`).

Register a model with the decorator; a duplicate name is refused so two files cannot silently shadow
each other::

    @register_model(input_size=32)
    def tiny_cnn(num_classes: int, img_size: int) -> nn.Module:
        \"\"\"Two conv layers.\"\"\"
        return TinyCNN(num_classes)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from litcls.data.image_size import ImageSize, parse_image_size
from litcls.errors import UserError
from litcls.models.first_conv import adapt_first_conv
from litcls.models.heads import MLPHead
from litcls.suggest import did_you_mean

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its builder, the image size it suits, its pretrained weights and its head.

    ``head`` names the submodule whose output is the class scores (``fc``, ``classifier.3``); everything else
    is the backbone. ``None`` means the last ``nn.Linear`` the model defines, true of every model here.
    """

    name: str
    builder: Builder
    input_size: int
    description: str
    weights: WeightsEnum | None = None
    head: str | None = None

    def build(self, num_classes: int, img_size: int | ImageSize | None = None, in_chans: int = 3) -> nn.Module:
        size = parse_image_size(img_size or self.input_size)
        if "in_chans" in inspect.signature(self.builder).parameters:
            return self.builder(num_classes=num_classes, img_size=size, in_chans=in_chans)
        return adapt_first_conv(self.builder(num_classes=num_classes, img_size=size), in_chans)

    def num_parameters(self, num_classes: int = 10) -> int:
        with torch.device("meta"):  # shapes only: no memory, no initialisation cost
            return sum(p.numel() for p in self.build(num_classes).parameters())

    def head_name(self, model: nn.Module) -> str:
        """The name of ``model``'s head submodule, as ``model.get_submodule`` takes it."""
        if self.head is not None:
            return self.head
        # a replaced head (--head mlp) is the head, not its last layer
        replaced = [name for name, module in model.named_modules() if isinstance(module, MLPHead)]
        if replaced:
            return replaced[0]
        linears = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
        if not linears:
            raise ValueError(f"model {self.name!r} has no nn.Linear layer: register it with "
                             "head='<name of the layer that outputs the class scores>'")
        return linears[-1]


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str | None = None, *, input_size: int, weights: WeightsEnum | None = None,
                   head: str | None = None) -> Callable[[Builder], Builder]:
    """Register a builder under ``name`` (default: the function's name).

    Args:
        name: registry key used by ``--model``.
        input_size: the image size (pixels) the model is designed for, shown by ``--list-models`` and used
            when ``--img-size`` is not given.
        weights: torchvision weights that ``--pretrained`` loads (they also set the preprocessing).
        head: name of the submodule that outputs the class scores (default: the last ``nn.Linear``).
    """

    def decorator(builder: Builder) -> Builder:
        key = name or builder.__name__
        if key in _REGISTRY:
            raise ValueError(f"model name {key!r} is already registered by {_REGISTRY[key].builder.__module__}")
        doc = (builder.__doc__ or "").strip().splitlines()
        _REGISTRY[key] = ModelSpec(key, builder, input_size, doc[0] if doc else "", weights, head)
        return builder

    return decorator


def get_model_spec(name: str) -> ModelSpec:
    if name not in _REGISTRY:
        raise UserError(f"--model: unknown model {name!r}{did_you_mean(name, _REGISTRY)}; valid models: "
                        f"{', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def build_model(name: str, num_classes: int, img_size: int | ImageSize | None = None, in_chans: int = 3) -> nn.Module:
    """Build the registered model ``name`` with a head of ``num_classes`` outputs for ``in_chans`` channels."""
    return get_model_spec(name).build(num_classes, img_size, in_chans)


def list_models() -> list[ModelSpec]:
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]
