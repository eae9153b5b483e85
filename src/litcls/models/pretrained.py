"""A run's starting weights: torchvision's pretrained weights (``--pretrained``) or a local file (``--weights``).

Starting weights initialise the model; they are not part of it. The checkpoint's hyperparameters hold the
architecture, the classes and the preprocessing only, so loading a trained checkpoint never needs the network
or the original weights file.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from litcls.data.transforms import Preprocessing
from litcls.errors import UserError
from litcls.models.registry import ModelSpec, get_model_spec, list_models


@dataclass(frozen=True)
class StartingWeights:
    """Tensors to start from, with what is known about how they were trained.

    Attributes:
        state_dict: tensors keyed like the model's own ``state_dict``.
        source: where they come from, for messages.
        flag: the flag that asked for them (``--pretrained`` or ``--weights``), for messages.
        preprocessing: the preprocessing they were trained with, when known.
        class_names: the classes of their head, when known; the head is kept only for the same classes.
    """

    state_dict: dict[str, torch.Tensor]
    source: str
    flag: str
    preprocessing: Preprocessing | None = None
    class_names: list[str] | None = None


def starting_weights(model: str, pretrained: bool, weights: str | None) -> StartingWeights | None:
    """The starting weights that ``--pretrained`` or ``--weights`` ask for, or None for a random start."""
    if pretrained:
        return torchvision_weights(get_model_spec(model))
    if weights:
        return weights_file(Path(weights), model)
    return None


def cached_weights_path(spec: ModelSpec) -> Path:
    """Where torchvision's cache keeps ``spec``'s weights: ``$TORCH_HOME/hub/checkpoints/<file name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(spec.weights.url).path)


def torchvision_weights(spec: ModelSpec) -> StartingWeights:
    """Read ``spec``'s ImageNet weights from torchvision's cache, downloading them once if they are not there."""
    if spec.weights is None:
        with_weights = ", ".join(s.name for s in list_models() if s.weights is not None)
        raise UserError(f"--pretrained: model {spec.name!r} has no pretrained weights; models that have: "
                        f"{with_weights}")
    path = cached_weights_path(spec)
    was_cached = path.is_file()
    try:
        # check_hash verifies a download against the hash in the file name; a file already cached is trusted
        state_dict = spec.weights.get_state_dict(progress=True, check_hash=True, weights_only=True)
    except Exception as err:  # a failed download is an OSError, a bad file one of several types
        if was_cached:
            raise UserError(f"--pretrained: {path} could not be read ({err}); delete it so that it is downloaded "
                            f"again, or replace it with {spec.weights.url}") from None
        reason = getattr(err, "reason", err)
        raise UserError(f"--pretrained: the ImageNet weights of {spec.name} are not in torchvision's cache and "
                        f"could not be downloaded ({reason}). Download {spec.weights.url} where a network exists "
                        f"and save it as {path} (the cache is $TORCH_HOME/hub/checkpoints), or train without "
                        "--pretrained") from None
    transforms = spec.weights.transforms()
    preprocessing = Preprocessing(img_size=int(transforms.crop_size[0]), mean=tuple(transforms.mean),
                                  std=tuple(transforms.std))
    return StartingWeights(state_dict, f"torchvision {spec.weights}", "--pretrained", preprocessing,
                           list(spec.weights.meta["categories"]))


def weights_file(path: Path, model: str) -> StartingWeights:
    """Read a state dict saved with ``torch.save(model.state_dict(), path)`` or a litcls checkpoint."""
    if not path.is_file():
        raise UserError(f"--weights: no such file: {path}")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises several types for a file that is not a tensor archive
        raise UserError(f"--weights: {path} is not a state dict or a litcls checkpoint ({err}); save one with "
                        "torch.save(model.state_dict(), path)") from None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):  # a Lightning checkpoint
        hparams = loaded.get("hyper_parameters", {})
        if hparams.get("model", model) != model:
            raise UserError(f"--weights: {path} is a checkpoint of model {hparams['model']!r}, not {model!r}; "
                            f"pass --model {hparams['model']}")
        state_dict = {key.removeprefix("model."): value for key, value in loaded["state_dict"].items()
                      if key.startswith("model.")}
        preprocessing = Preprocessing.from_dict(hparams["preprocessing"]) if "preprocessing" in hparams else None
        return StartingWeights(state_dict, str(path), "--weights", preprocessing, hparams.get("class_names"))
    if isinstance(loaded, dict) and loaded and all(isinstance(v, torch.Tensor) for v in loaded.values()):
        return StartingWeights(loaded, str(path), "--weights")
    raise UserError(f"--weights: {path} holds no state dict (a mapping of names to tensors); save one with "
                    "torch.save(model.state_dict(), path)")


def load_starting_weights(model: nn.Module, start: StartingWeights, head: str, class_names: list[str]) -> str:
    """Copy ``start`` into ``model``; the head is kept only when it was trained for the same classes.

    Every tensor outside the head must be present with the model's shape, otherwise nothing is loaded and a
    UserError lists the differences. Returns one line that says what was loaded.
    """
    own = model.state_dict()

    def in_head(key: str) -> bool:
        return key.startswith(head + ".")

    head_fits = all(key in start.state_dict and start.state_dict[key].shape == value.shape
                    for key, value in own.items() if in_head(key))
    keep_head = head_fits and start.class_names in (None, list(class_names))
    state_dict = {key: value for key, value in start.state_dict.items() if keep_head or not in_head(key)}
    expected = {key for key in own if keep_head or not in_head(key)}
    problems = {
        "missing": sorted(key for key in expected - set(state_dict) if not key.endswith("num_batches_tracked")),
        "unexpected": sorted(set(state_dict) - set(own)),
        "of another shape": sorted(key for key in set(state_dict) & set(own)
                                   if state_dict[key].shape != own[key].shape),
    }
    if any(problems.values()):
        details = "; ".join(f"{len(keys)} {what} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})"
                            for what, keys in problems.items() if keys)
        raise UserError(f"{start.flag}: {start.source} does not fit model {type(model).__name__} with head "
                        f"{head!r}: tensors {details}")
    model.load_state_dict(state_dict, strict=False)
    head_note = "head loaded" if keep_head else f"head {head!r} initialised for {len(class_names)} classes"
    return f"starting weights: {start.source} ({len(state_dict)} tensors, {head_note})"


def run_preprocessing(img_size: int | None, spec: ModelSpec, start: StartingWeights | None) -> Preprocessing:
    """The starting weights' own preprocessing when known, else the model's input size with ImageNet statistics.

    An explicit ``img_size`` (``--img-size``) replaces the size and keeps the normalisation: the weights were
    trained with that mean and standard deviation.
    """
    preprocessing = start.preprocessing if start and start.preprocessing else Preprocessing(img_size=spec.input_size)
    return preprocessing if img_size is None else dataclasses.replace(preprocessing, img_size=img_size)
