"""Grad-CAM (Selvaraju et al., 2017) for any registered model, on top of pytorch-grad-cam.

Which layer to explain is found from the model itself. For a CNN, one probe forward pass lists the modules that
produce a spatial feature map; the target is the block that ends with the last convolution, taken as late as the
map keeps its shape (after its batch norm and activation, e.g. ``model.layer4`` of a ResNet, ``model.features`` of
a MobileNet). Transformers have no such map: a ViT's target is its last block's first norm, whose tokens are
reshaped back to the patch grid (the class and register tokens left out); a hierarchical transformer laid out in
stages of (B, H, W, C) maps (timm's Swin) has its last stage's last block's norm, moved to channels first. Models
without convolutions or patches (linear, mlp) have no such layer and are not explained.

pytorch-grad-cam's constructor switches the model to eval mode and its forward clears parameter gradients;
:func:`gradcam_heatmaps` restores the training mode of every submodule, the gradients and the ``requires_grad``
flags it found, and releases its hooks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from litcls.errors import UserError


@dataclass(frozen=True)
class FeatureMap:
    """A module whose forward ran once in the probe and returned a (1, C, H, W) map with H * W > 1."""

    path: str
    shape: tuple[int, ...]
    is_conv: bool


Reshape = Callable[[torch.Tensor], torch.Tensor]  # a layer's output -> (N, C, H, W)


class Target(NamedTuple):
    """The layer Grad-CAM explains: its path from the module given, the layer, and how its output becomes a
    (N, C, H, W) map (None: it already is one)."""

    path: str
    layer: nn.Module
    reshape: Reshape | None = None


def network_of(module: nn.Module) -> tuple[nn.Module, str]:
    """The network inside a LightningModule (its ``model``) and the path prefix that reaches it."""
    inner = getattr(module, "model", None)
    return (inner, "model.") if isinstance(inner, nn.Module) else (module, "")


def tokens_to_grid(net: nn.Module) -> Reshape:
    """(N, prefix + gh * gw, C) ViT tokens -> (N, C, gh, gw), the class and register tokens dropped."""
    grid = getattr(net.patch_embed, "grid_size", None)

    def reshape(tokens: torch.Tensor) -> torch.Tensor:
        prefix = getattr(net, "num_prefix_tokens", 1)
        patches = tokens[:, prefix:, :]
        count = patches.shape[1]
        side = math.isqrt(count)
        height, width = grid if grid and grid[0] * grid[1] == count else (side, count // side)
        return patches.reshape(tokens.shape[0], height, width, tokens.shape[2]).permute(0, 3, 1, 2)

    return reshape


def channels_first(maps: torch.Tensor) -> torch.Tensor:
    """(N, H, W, C) -> (N, C, H, W)."""
    return maps.permute(0, 3, 1, 2)


def is_vit(net: nn.Module) -> bool:
    return hasattr(net, "patch_embed") and isinstance(getattr(net, "blocks", None), (nn.Sequential, nn.ModuleList))


def is_channels_last_stages(net: nn.Module) -> bool:
    """timm's hierarchical transformers whose stages output (B, H, W, C) maps (Swin)."""
    return getattr(net, "output_fmt", None) == "NHWC"


def transformer_target(module: nn.Module) -> Target | None:
    """The automatic target of a ViT or a channels-last hierarchical transformer, None for other models."""
    net, prefix = network_of(module)
    if is_vit(net) and len(net.blocks):
        block = len(net.blocks) - 1
        name = "norm1" if hasattr(net.blocks[block], "norm1") else ""
        path = f"blocks.{block}" + (f".{name}" if name else "")
        return Target(prefix + path, net.get_submodule(path), tokens_to_grid(net))
    if is_channels_last_stages(net):
        stages = getattr(net, "layers", None) or getattr(net, "stages", None)
        if stages is not None and len(stages):
            stage_name = "layers" if hasattr(net, "layers") else "stages"
            last = len(stages) - 1
            blocks = getattr(stages[last], "blocks", None)
            path = f"{stage_name}.{last}"
            if blocks is not None and len(blocks):
                path += f".blocks.{len(blocks) - 1}" + (".norm1" if hasattr(blocks[-1], "norm1") else "")
            return Target(prefix + path, net.get_submodule(path), channels_first)
    return None


@contextmanager
def preserved_state(module: nn.Module) -> Iterator[None]:
    """Restore each submodule's train/eval mode, and each parameter's gradient and ``requires_grad``, on exit."""
    modes = [(sub, sub.training) for sub in module.modules()]
    params = [(param, param.requires_grad, param.grad) for param in module.parameters()]
    try:
        yield
    finally:
        for sub, training in modes:
            sub.training = training
        for param, requires_grad, grad in params:
            param.requires_grad_(requires_grad)
            param.grad = grad


def probe_shapes(module: nn.Module,
                 input_shape: tuple[int, int, int]) -> tuple[list[tuple[str, tuple[int, ...]]], dict[str, int]]:
    """(path, output shape) of every submodule whose forward returned a tensor on one image of ``input_shape``
    (C, H, W), in the order their forward finishes, and how many times each ran."""
    calls: dict[str, int] = {}
    finished: list[tuple[str, tuple[int, ...]]] = []
    names = {sub: name for name, sub in module.named_modules() if name}

    def record(sub: nn.Module, _inputs, output) -> None:
        name = names[sub]
        calls[name] = calls.get(name, 0) + 1
        if isinstance(output, torch.Tensor):
            finished.append((name, tuple(output.shape)))

    handles = [sub.register_forward_hook(record) for sub in names]
    param = next(module.parameters())
    try:
        with preserved_state(module), torch.no_grad():
            module.eval()
            module(torch.zeros(1, *input_shape, device=param.device, dtype=param.dtype))
    finally:
        for handle in handles:
            handle.remove()
    return finished, calls


def feature_maps(module: nn.Module, input_shape: tuple[int, int, int]) -> list[FeatureMap]:
    """Spatial feature maps of ``module`` on one image of ``input_shape`` (C, H, W), in the order their forward
    finishes.

    A module run more than once per forward pass (a ReLU reused inside a ResNet block) is left out: its hooks
    would see several maps.
    """
    finished, calls = probe_shapes(module, input_shape)
    convs = {name for name, sub in module.named_modules() if isinstance(sub, nn.Conv2d)}
    return [FeatureMap(name, shape, name in convs) for name, shape in finished
            if calls[name] == 1 and len(shape) == 4 and shape[2] * shape[3] > 1]


def find_target_layer(module: nn.Module, input_shape: tuple[int, int, int]) -> str | None:
    """Path (from ``module``) of the layer Grad-CAM should explain, or None when there is no convolution."""
    if not any(isinstance(sub, nn.Conv2d) for sub in module.modules()):
        return None
    maps = feature_maps(module, input_shape)
    last_conv = max((index for index, fmap in enumerate(maps) if fmap.is_conv), default=None)
    if last_conv is None:
        return None
    target = last_conv
    while target + 1 < len(maps) and maps[target + 1].shape == maps[last_conv].shape:
        target += 1
    return maps[target].path


def resolve_target_layer(module: nn.Module, path: str | None, input_shape: tuple[int, int, int]) -> Target | None:
    """The layer named by ``--gradcam-layer`` (checked), the automatic choice when ``path`` is None.

    Raises:
        UserError: ``path`` names no module, or one whose output Grad-CAM cannot use.
    """
    if path is None:
        target = transformer_target(module)
        if target is not None:
            return target
        found = find_target_layer(module, input_shape)
        return None if found is None else Target(found, module.get_submodule(found))
    net, prefix = network_of(module)
    if is_vit(net) or is_channels_last_stages(net):
        return transformer_layer(module, path, input_shape)
    maps = feature_maps(module, input_shape)
    valid = [fmap.path for fmap in maps]
    hint = f"layers with a spatial feature map, last ones: {', '.join(valid[-8:])}" if valid else \
        "this model has no layer with a spatial feature map"
    try:
        layer = module.get_submodule(path)
    except AttributeError:
        raise UserError(f"--gradcam-layer: no module {path!r} in the model; {hint}") from None
    if path not in valid:
        raise UserError(f"--gradcam-layer: {path!r} does not output one (N, C, H, W) feature map larger than 1x1 "
                        f"per forward pass at {input_shape[1]}x{input_shape[2]} px; {hint}")
    return Target(path, layer)


def transformer_layer(module: nn.Module, path: str, input_shape: tuple[int, int, int]) -> Target:
    """``--gradcam-layer`` on a transformer: a layer run once that outputs the ViT's tokens (N, T, C) or a stage's
    (N, H, W, C) map."""
    net, _ = network_of(module)
    finished, calls = probe_shapes(module, input_shape)
    tokens = 3 if is_vit(net) else 4
    valid = [name for name, shape in finished if calls[name] == 1 and len(shape) == tokens and shape[1] > 1]
    hint = f"layers it can explain, last ones: {', '.join(valid[-6:])}"
    try:
        layer = module.get_submodule(path)
    except AttributeError:
        raise UserError(f"--gradcam-layer: no module {path!r} in the model; {hint}") from None
    if path not in valid:
        kind = "tokens (N, T, C)" if tokens == 3 else "one (N, H, W, C) map"
        raise UserError(f"--gradcam-layer: {path!r} does not output {kind} once per forward pass; {hint}")
    return Target(path, layer, tokens_to_grid(net) if tokens == 3 else channels_first)


def gradcam_heatmaps(module: nn.Module, layer: nn.Module | Target, images: torch.Tensor,
                     classes: Sequence[int]) -> np.ndarray:
    """Grad-CAM of class ``classes[i]`` for ``images[i]``: (N, H, W) float32 in [0, 1], at the images' size.

    ``layer`` is a module whose output is a (N, C, H, W) map, or a :class:`Target` that says how to reshape its
    output into one. Works inside Lightning's evaluation loops (which disable gradients) and leaves ``module`` as it
    found it.
    """
    reshape = None
    if isinstance(layer, Target):
        layer, reshape = layer.layer, layer.reshape
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    with preserved_state(module), torch.inference_mode(False), torch.enable_grad():
        # Gradients flow to the feature map through the input, not into the weights: nothing to clean up.
        module.requires_grad_(False)
        inputs = images.clone().requires_grad_(True)
        # not a context manager: its __exit__ swallows errors
        cam = GradCAM(model=module, target_layers=[layer], reshape_transform=reshape)
        try:
            return cam(input_tensor=inputs, targets=[ClassifierOutputTarget(int(c)) for c in classes])
        finally:
            cam.activations_and_grads.release()


def to_display(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Undo the normalisation: (N, C, H, W) model inputs -> (N, H, W, 3) float RGB in [0, 1] (grey repeated)."""
    pixels = images.detach().float().cpu().permute(0, 2, 3, 1).numpy()
    shown = np.clip(pixels * np.asarray(std) + np.asarray(mean), 0.0, 1.0)
    return np.repeat(shown, 3, axis=3) if shown.shape[3] == 1 else shown


def overlay(images: np.ndarray, heatmaps: np.ndarray, image_weight: float = 0.55) -> np.ndarray:
    """Blend each heatmap (jet colours) over its image: (N, H, W, 3) float in [0, 1] -> (N, H, W, 3) uint8."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    return np.stack([show_cam_on_image(image.astype(np.float32), heatmap, use_rgb=True, image_weight=image_weight)
                     for image, heatmap in zip(images, heatmaps, strict=True)])
