"""What the code knows about a model: :class:`ModelSpec`, its builder, input size, pretrained weights and head,
whether it is registered, a timm model or a builder imported by path."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from litcls.data.image_size import ImageSize, parse_image_size
from litcls.errors import UserError
from litcls.models.heads import MLPHead

if TYPE_CHECKING:
    from litcls.models.weights import StartingWeights

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    """A model: its builder, the image size it suits, its pretrained weights and its head.

    ``head`` names the submodule whose output is the class scores (``fc``, ``classifier.3``); everything else
    is the backbone. ``None`` means the module a model's ``get_classifier()`` returns (timm's seam), else the last
    ``nn.Linear`` the model defines, true of every registered model here.

    ``pretrained`` reads the weights ``--pretrained`` starts from (checking the cache, downloading where allowed);
    ``pretrained_name`` names them in ``--list-models``.
    """

    name: str
    builder: Builder
    input_size: int
    description: str
    pretrained: Callable[[], StartingWeights] | None = None
    head: str | None = None
    pretrained_name: str | None = None

    def build(self, num_classes: int, img_size: int | ImageSize | None = None, in_chans: int = 3) -> nn.Module:
        """The model with ``num_classes`` outputs for ``in_chans``-channel images of ``img_size`` (height, width).

        The builder gets the keywords it declares (``img_size``, ``in_chans``); one without ``in_chans`` has its
        first convolution replaced for other channel counts.
        """
        accepted = inspect.signature(self.builder).parameters
        takes_all = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
        options = {"img_size": parse_image_size(img_size or self.input_size), "in_chans": in_chans}
        model = self.builder(num_classes=num_classes,
                             **{key: value for key, value in options.items() if takes_all or key in accepted})
        if in_chans != 3 and not (takes_all or "in_chans" in accepted):
            set_input_channels(model, in_chans, self.name)
        return model

    def num_parameters(self, num_classes: int = 10) -> int:
        with torch.device("meta"):  # shapes only: no memory, no initialisation cost
            return sum(p.numel() for p in self.build(num_classes).parameters())

    def head_name(self, model: nn.Module) -> str:
        """The name of ``model``'s head submodule, as ``model.get_submodule`` takes it."""
        if self.head is not None:
            return self.head
        get_classifier = getattr(model, "get_classifier", None)
        if callable(get_classifier):  # timm models, and any model that says which module is its classifier
            classifier = get_classifier()
            named = [name for name, module in model.named_modules() if module is classifier and name]
            if named:
                return named[0]
        # a replaced head (--head mlp) is the head, not its last layer
        replaced = [name for name, module in model.named_modules() if isinstance(module, MLPHead)]
        if replaced:
            return replaced[0]
        linears = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
        if not linears:
            raise ValueError(f"model {self.name!r} has no nn.Linear layer: register it with "
                             "head='<name of the layer that outputs the class scores>'")
        return linears[-1]


def set_input_channels(model: nn.Module, in_chans: int, name: str) -> None:
    """Replace the first RGB convolution of ``model`` by one taking ``in_chans`` channels (same shape otherwise);
    starting weights are adapted to it when loaded (:func:`litcls.models.weights.adapt_input_channels`)."""
    for path, conv in model.named_modules():
        if isinstance(conv, nn.Conv2d) and conv.in_channels == 3:
            parent, _, attr = path.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, attr, nn.Conv2d(
                in_chans, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                conv.groups, conv.bias is not None, conv.padding_mode))
            return
    raise UserError(f"--in-chans {in_chans}: model {name!r} has no RGB convolution to adapt; use a model that takes "
                    "in_chans (a convolutional model, or timm/<name>)")
