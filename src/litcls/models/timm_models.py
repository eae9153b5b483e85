"""Any timm model by name (``--model timm/<name>``), its pretrained weights from the Hugging Face cache.

timm is imported only when a timm model is named (its import takes seconds). The model is timm's own, unwrapped:
its ``get_classifier()`` is the head that ``--freeze-backbone``, ``--head mlp`` and ``--cache-features`` see, and
its state-dict keys are timm's. ``--pretrained`` reads the weights through ``huggingface_hub`` (honouring
``HF_HOME``, ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE``) and lets timm load them into a model of the run's image size
and channels, so a ViT's position embeddings are resampled and a grey model's first layer summed over RGB as timm
does it. The normalisation, input size, interpolation and crop come from the model's pretrained configuration.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from litcls.data.image_size import ImageSize, format_image_size, parse_image_size
from litcls.data.transforms import Preprocessing
from litcls.errors import UserError
from litcls.model_names import TIMM_PREFIX
from litcls.models.spec import ModelSpec
from litcls.models.weights import StartingWeights
from litcls.suggest import did_you_mean

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm's hub loader looks for, in its order


def _timm() -> Any:
    import timm

    return timm


def timm_spec(name: str) -> ModelSpec:
    """The spec of timm's model ``name`` (an architecture, optionally with a ``.tag`` naming its weights)."""
    timm = _timm()
    if not timm.is_model(name):
        raise UserError(f"--model {TIMM_PREFIX}{name}: timm has no model {name!r}"
                        f"{did_you_mean(name, timm.list_models())}; python train.py --list-models "
                        f"'{TIMM_PREFIX}{name[:4]}*' lists similar ones")
    cfg = pretrained_config(name)
    has_weights = bool(cfg and (cfg.hf_hub_id or cfg.url or cfg.file))
    return ModelSpec(TIMM_PREFIX + name, partial(build_timm, name), input_size=int(cfg.input_size[-1]) if cfg else 224,
                     description=f"timm {name}", pretrained=partial(timm_weights, name) if has_weights else None,
                     pretrained_name=(cfg.hf_hub_id or cfg.tag) if has_weights else None)


def pretrained_config(name: str) -> Any:
    """timm's pretrained configuration of ``name`` (its default weights when no tag is given), or None."""
    return _timm().models.get_pretrained_cfg(name, allow_unregistered=False)


def fixed_input_size(name: str) -> bool:
    """True for models built for one image size (ViT, Swin): they are built for the run's size."""
    cfg = pretrained_config(name)
    return bool(cfg and cfg.fixed_input_size)


def build_timm(name: str, num_classes: int, img_size: int | ImageSize, in_chans: int = 3,
               **overrides: Any) -> nn.Module:
    """timm's ``name`` with ``num_classes`` outputs for ``in_chans``-channel images of ``img_size`` (height, width)."""
    img_size = parse_image_size(img_size)
    kwargs: dict[str, Any] = {"num_classes": num_classes, "in_chans": in_chans, **overrides}
    if fixed_input_size(name):
        kwargs["img_size"] = img_size
    try:
        model = _timm().create_model(name, **kwargs)
    except (AssertionError, ValueError, RuntimeError) as err:
        raise UserError(f"--img-size {format_image_size(img_size)}: {TIMM_PREFIX}{name} cannot be built for it "
                        f"({' '.join(str(err).split())[:200]})") from None
    check_patch_size(model, name, img_size)
    return model


def check_img_size(name: str, img_size: int | ImageSize) -> None:
    """Build timm's ``name`` for ``img_size`` on the meta device (shapes only, no memory): a size it cannot take
    stops before the run folder exists."""
    with torch.device("meta"):
        build_timm(name, 2, img_size)


def check_patch_size(model: nn.Module, name: str, img_size: ImageSize) -> None:
    """A vision transformer cuts the image into square patches: a size that is not a multiple of the patch would
    lose its border (or leave no patch at all)."""
    patch_embed = getattr(model, "patch_embed", None)
    patch = getattr(patch_embed, "patch_size", None)
    if not patch or getattr(patch_embed, "dynamic_img_pad", False):
        return
    side = int(patch[0] if isinstance(patch, (tuple, list)) else patch)
    if any(length % side or length < side for length in img_size):
        nearest = tuple(max(side, round(length / side) * side) for length in img_size)
        raise UserError(f"--img-size {format_image_size(img_size)}: {TIMM_PREFIX}{name} cuts images into {side}x{side} "
                        f"px patches, so it takes sizes that are a multiple of {side}; use --img-size "
                        f"{format_image_size(nearest)}")


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache as the environment names it now: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
    ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    return Path(os.environ.get("HF_HOME", "~/.cache/huggingface")).expanduser() / "hub"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def weight_file(name: str, repo: str) -> Path:
    """The weight file of the hub repository ``repo`` in the cache, downloaded first unless ``HF_HUB_OFFLINE``."""
    from huggingface_hub import hf_hub_download

    cache, offline = hf_cache_dir(), hub_offline()
    reason = "HF_HUB_OFFLINE is set" if offline else "the download failed"
    for filename in WEIGHT_FILES:
        try:
            return Path(hf_hub_download(repo, filename, cache_dir=cache, local_files_only=offline))
        except Exception as err:  # not cached offline, no network, no such file: several types
            if not offline:
                reason = f"the download failed: {' '.join(str(err).split())[:160]}"
    folder = cache / f"models--{repo.replace('/', '--')}"
    raise UserError(f"--pretrained: no weights of {TIMM_PREFIX}{name} in the Hugging Face cache (looked for "
                    f"{folder}/snapshots/*/{WEIGHT_FILES[0]}; {reason}). On a machine with a network run: "
                    f"HF_HOME={cache.parent} hf download {repo} {WEIGHT_FILES[0]}, then copy {folder} to the same "
                    "place here, or train without --pretrained")


def timm_weights(name: str) -> StartingWeights:
    """The pretrained weights of timm's ``name``, located in the cache now, loaded by timm when the run's size and
    channels are known."""
    cfg = pretrained_config(name)
    if cfg.hf_hub_id:
        path = weight_file(name, cfg.hf_hub_id)
        source = f"timm {cfg.hf_hub_id.removeprefix('timm/')} ({path})"
    else:  # a timm model whose weights are a URL: timm's own download into torch's cache
        path, source = None, f"timm {name} ({cfg.url})"

    def fetch(img_size: ImageSize, in_chans: int) -> dict[str, torch.Tensor]:
        overlay = {"file": str(path)} if path else {}
        kwargs: dict[str, Any] = {"pretrained": True, "pretrained_cfg_overlay": overlay, "in_chans": in_chans}
        if cfg.fixed_input_size:
            kwargs["img_size"] = img_size
        return _timm().create_model(name, **kwargs).state_dict()

    return StartingWeights(source, "--pretrained",
                           Preprocessing(img_size=int(cfg.input_size[-1]), mean=tuple(cfg.mean), std=tuple(cfg.std)),
                           interpolation=cfg.interpolation, crop_pct=cfg.crop_pct,
                           class_names=list(cfg.label_names) if cfg.label_names else None, fetch=fetch)


def list_timm_models(pattern: str) -> list[tuple[str, int, int, str]]:
    """(``timm/<name>``, parameters with 10 classes, default image size, pretrained weights) of the timm models
    matching ``pattern`` (``convnext*``)."""
    timm = _timm()
    rows = []
    for name in timm.list_models(pattern):
        cfg = pretrained_config(name)
        with torch.device("meta"):  # shapes only
            parameters = sum(p.numel() for p in timm.create_model(name, num_classes=10).parameters())
        tags = [tagged.partition(".")[2] for tagged in timm.list_pretrained(name + ".*")]
        rows.append((TIMM_PREFIX + name, parameters, int(cfg.input_size[-1]) if cfg else 224,
                     ", ".join(tags) if tags else "-"))
    return rows

