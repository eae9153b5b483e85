"""torchvision's ImageNet weights as :class:`~litcls.models.weights.StartingWeights`: read from torchvision's cache
(``$TORCH_HOME/hub/checkpoints``), downloaded once where a network exists, with the preprocessing torchvision
publishes beside them."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import torch

from litcls.data.transforms import Preprocessing
from litcls.errors import UserError
from litcls.models.weights import StartingWeights

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum


def cached_weights_path(weights: WeightsEnum) -> Path:
    """Where torchvision's cache keeps ``weights``: ``$TORCH_HOME/hub/checkpoints/<file name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


def described(weights: WeightsEnum) -> StartingWeights:
    """What torchvision publishes about ``weights``, without reading them."""
    transforms = weights.transforms()
    crop, resize = int(transforms.crop_size[0]), int(transforms.resize_size[0])
    return StartingWeights(f"torchvision {weights}", "--pretrained",
                           Preprocessing(img_size=crop, mean=tuple(transforms.mean), std=tuple(transforms.std)),
                           interpolation=transforms.interpolation.value, crop_pct=round(crop / resize, 4),
                           class_names=list(weights.meta["categories"]))


def read_torchvision_weights(weights: WeightsEnum, model: str) -> StartingWeights:
    """``weights`` read from torchvision's cache, downloaded once if they are not there."""
    path = cached_weights_path(weights)
    was_cached = path.is_file()
    try:
        # check_hash verifies a download against the hash in the file name; a file already cached is trusted
        state_dict = weights.get_state_dict(progress=True, check_hash=True, weights_only=True)
    except Exception as err:  # a failed download is an OSError, a bad file one of several types
        if was_cached:
            raise UserError(f"--pretrained: {path} could not be read ({err}); delete it so that it is downloaded "
                            f"again, or replace it with {weights.url}") from None
        reason = getattr(err, "reason", err)
        raise UserError(f"--pretrained: the ImageNet weights of {model} are not in torchvision's cache and "
                        f"could not be downloaded ({reason}). Download {weights.url} where a network exists "
                        f"and save it as {path} (the cache is $TORCH_HOME/hub/checkpoints), or train without "
                        "--pretrained") from None
    return described(weights).with_tensors(state_dict)


def torchvision_weights(weights: WeightsEnum, model: str) -> Callable[[], StartingWeights]:
    """What ``register_model(pretrained=...)`` takes for torchvision ``weights`` of the model ``model``."""
    reader = partial(read_torchvision_weights, weights, model)
    reader.name = weights.name  # shown by --list-models
    reader.weights = weights
    return reader
