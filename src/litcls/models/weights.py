"""Starting weights described once, whatever their origin: the tensors (or how to get them) and the preprocessing
they were trained with (mean, std, input size, interpolation, crop). torchvision weights, a timm model's pretrained
configuration and a local file all become one :class:`StartingWeights`; the run takes its normalisation from it and
records it in ``config.yaml``, ``results.json`` and the checkpoint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from litcls.data.image_size import format_image_size
from litcls.data.transforms import Preprocessing

# (img_size, in_chans) -> tensors keyed like the model's state dict; a timm model's tensors depend on both (its
# position embeddings are resampled to the size, its first layer adapted to the channels)
Fetch = Callable[[int, int], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class StartingWeights:
    """Tensors to start from, with what is known about how they were trained.

    Attributes:
        source: where they come from (``torchvision ResNet18_Weights.IMAGENET1K_V1``, ``timm test_vit.r160_in1k``,
            a file path), for messages and records.
        flag: the flag that asked for them (``--pretrained`` or ``--weights``), for messages.
        preprocessing: the input size, mean and std they were trained with, when known.
        interpolation: the resize interpolation of their training (``bilinear``, ``bicubic``), when known.
        crop_pct: the share of the resized image their evaluation kept in a centre crop, when known.
        class_names: the classes of their head, when known; the head is kept only for the same classes.
        state_dict: the tensors, when already read; else ``fetch`` reads them.
        fetch: how to read the tensors for a model of a given image size and number of input channels.
    """

    source: str
    flag: str = "--pretrained"
    preprocessing: Preprocessing | None = None
    interpolation: str | None = None
    crop_pct: float | None = None
    class_names: list[str] | None = None
    state_dict: dict[str, torch.Tensor] | None = field(default=None, repr=False, compare=False)
    fetch: Fetch | None = field(default=None, repr=False, compare=False)

    def tensors(self, img_size: int, in_chans: int = 3) -> dict[str, torch.Tensor]:
        """The tensors, read now if they were not yet."""
        if self.state_dict is not None:
            return self.state_dict
        if self.fetch is None:
            raise ValueError(f"starting weights {self.source} hold no tensors and no way to read them")
        return self.fetch(img_size, in_chans)

    def with_tensors(self, state_dict: dict[str, torch.Tensor]) -> StartingWeights:
        return dataclasses.replace(self, state_dict=state_dict)

    def record(self) -> dict[str, Any]:
        """What a run records about them (``results.json``, the checkpoint): JSON values only."""
        pre = self.preprocessing
        return {"source": self.source, "flag": self.flag,
                "input_size": None if pre is None else format_image_size(pre.img_size),
                "mean": None if pre is None else list(pre.mean), "std": None if pre is None else list(pre.std),
                "interpolation": self.interpolation, "crop_pct": self.crop_pct}


def adapt_input_channels(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """A first convolution trained on RGB (O, 3, kh, kw) made to take ``in_chans`` channels, as timm's
    ``adapt_input_conv`` does: one channel gets the sum over RGB (a grey image's response equals that of the same
    image repeated in RGB); more channels repeat RGB, scaled by 3 / ``in_chans``."""
    if in_chans == weight.shape[1]:
        return weight
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = -(-in_chans // weight.shape[1])
    return weight.repeat(1, repeats, 1, 1)[:, :in_chans] * (weight.shape[1] / in_chans)
