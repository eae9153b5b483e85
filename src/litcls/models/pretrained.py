"""A run's starting weights: a model's pretrained weights (``--pretrained``: torchvision's or timm's) or a local
file (``--weights``: a state dict as .pth or .safetensors, or a litcls checkpoint), each one
:class:`~litcls.models.weights.StartingWeights` that carries its preprocessing.

Starting weights initialise the model; they are not part of it. The checkpoint's hyperparameters hold the
architecture, the classes, the preprocessing and a record of where the weights came from, so loading a trained
checkpoint never needs the network or the original weights file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from litcls.data.transforms import Preprocessing
from litcls.errors import UserError
from litcls.models.registry import ModelSpec, get_model_spec, list_models
from litcls.models.weights import StartingWeights, adapt_input_channels

__all__ = ["StartingWeights", "load_starting_weights", "run_preprocessing", "starting_weights", "weights_file"]


def starting_weights(model: str, pretrained: bool, weights: str | None) -> StartingWeights | None:
    """The starting weights that ``--pretrained`` or ``--weights`` ask for, or None for a random start."""
    if pretrained:
        spec = get_model_spec(model)
        if spec.pretrained is None:
            with_weights = ", ".join(s.name for s in list_models() if s.pretrained is not None)
            raise UserError(f"--pretrained: model {spec.name!r} has no pretrained weights; models that have: "
                            f"{with_weights}, and timm/<name> for timm models with weights")
        return spec.pretrained()
    if weights:
        return weights_file(Path(weights), model)
    return None


def read_tensors(path: Path) -> object:
    """What ``path`` holds: a safetensors file's tensors, else ``torch.load``'s tensors and plain containers."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path, device="cpu")
    return torch.load(path, map_location="cpu", weights_only=True)


def weights_file(path: Path, model: str) -> StartingWeights:
    """Read a state dict (``torch.save(model.state_dict(), path)``, or a ``.safetensors`` file) or a litcls
    checkpoint."""
    if not path.is_file():
        raise UserError(f"--weights: no such file: {path}")
    try:
        loaded = read_tensors(path)
    except Exception as err:  # torch.load and safetensors raise several types for a file that is not theirs
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
        return StartingWeights(str(path), "--weights", preprocessing, class_names=hparams.get("class_names"),
                               state_dict=state_dict)
    if isinstance(loaded, dict) and loaded and all(isinstance(v, torch.Tensor) for v in loaded.values()):
        return StartingWeights(str(path), "--weights", state_dict=loaded)
    raise UserError(f"--weights: {path} holds no state dict (a mapping of names to tensors); save one with "
                    "torch.save(model.state_dict(), path)")


def adapted_to(own: dict[str, torch.Tensor], state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state_dict`` with RGB first-layer kernels (O, 3, kh, kw) adapted where the model takes other channels
    (O, C, kh, kw): the sum over RGB for grey images (:func:`~litcls.models.weights.adapt_input_channels`)."""
    adapted = dict(state_dict)
    for key, value in state_dict.items():
        mine = own.get(key)
        if (mine is not None and value.dim() == 4 and mine.dim() == 4 and value.shape[1] == 3
                and mine.shape[1] != 3 and value.shape[0] == mine.shape[0] and value.shape[2:] == mine.shape[2:]):
            adapted[key] = adapt_input_channels(value, mine.shape[1])
    return adapted


def load_starting_weights(model: nn.Module, start: StartingWeights, head: str, class_names: list[str],
                          img_size: int = 224, in_chans: int = 3) -> str:
    """Copy ``start`` into ``model``; the head is kept only when it was trained for the same classes.

    Every tensor outside the head must be present with the model's shape (an RGB first layer is adapted to a
    grey model), otherwise nothing is loaded and a UserError lists the differences. ``img_size`` and ``in_chans``
    are the model's, for weights read for them (timm's). Returns one line that says what was loaded.
    """
    own = model.state_dict()
    tensors = adapted_to(own, start.tensors(img_size, in_chans))

    def in_head(key: str) -> bool:
        return key.startswith(head + ".")

    head_fits = all(key in tensors and tensors[key].shape == value.shape for key, value in own.items()
                    if in_head(key))
    keep_head = head_fits and start.class_names in (None, list(class_names))
    state_dict = {key: value for key, value in tensors.items() if keep_head or not in_head(key)}
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


def run_preprocessing(img_size: int | None, spec: ModelSpec, start: StartingWeights | None,
                      mean: list[float] | None = None, std: list[float] | None = None) -> Preprocessing:
    """The starting weights' own preprocessing when known, else the model's input size with ImageNet statistics.

    An explicit ``img_size`` (``--img-size``) replaces the size and keeps the normalisation: the weights were
    trained with that mean and standard deviation. An explicit ``mean``/``std`` (``--mean``, ``--std``, or a
    run's ``config.yaml``) replaces those.
    """
    preprocessing = start.preprocessing if start and start.preprocessing else Preprocessing(img_size=spec.input_size)
    changes = {"img_size": img_size, "mean": tuple(mean) if mean else None, "std": tuple(std) if std else None}
    return dataclasses.replace(preprocessing, **{key: value for key, value in changes.items() if value is not None})
