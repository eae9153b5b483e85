"""Training the head alone on cached backbone features (``--cache-features``), with the whole model kept.

The backbone's output for an image is the input of the model's head (the registry's
:meth:`~litcls.models.registry.ModelSpec.head_name`): a forward pre-hook on the head captures it. A frozen
backbone in eval mode gives the same input every epoch, so it is computed once; training then calls only the head.
The LightningModule still owns the whole model, so its state dict and checkpoints hold backbone plus head, and
``predict.py``, Grad-CAM and export load them as any other checkpoint.
"""

from __future__ import annotations

import torch
from torch import nn

from litcls.errors import UserError
from litcls.models.module import ClassifierModule
from litcls.models.registry import get_model_spec


class HeadOnlyModule(ClassifierModule):
    """A :class:`ClassifierModule` whose forward takes either images or cached head inputs.

    A 2-D batch ``(B, D)`` is a batch of cached features and goes through the head only; a 4-D batch
    ``(B, 3, H, W)`` of images goes through the whole model, so the final evaluation, Grad-CAM and the sanity
    check run on images unchanged. Its hyperparameters are those of :class:`ClassifierModule`, so its checkpoints
    load with ``ClassifierModule.load_from_checkpoint``.
    """

    @property
    def head(self) -> nn.Module:
        return self.model.get_submodule(get_model_spec(self.hparams.model).head_name(self.model))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dim() == 2:
            return self.head(inputs)  # (B, D) features -> (B, num_classes) logits
        return self.model(inputs)


@torch.no_grad()
def head_inputs(model: nn.Module, head: str, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` on ``images`` and return (the input its head received, flattened to (B, D), the logits)."""
    captured: list[torch.Tensor] = []
    hook = model.get_submodule(head).register_forward_pre_hook(lambda _, args: captured.append(args[0]))
    try:
        logits = model(images)
    finally:
        hook.remove()
    if len(captured) != 1:
        raise UserError(f"--cache-features: the head {head!r} ran {len(captured)} times in one forward pass; "
                        "only a model whose head runs once, last, can train on cached features")
    return captured[0].flatten(1), logits


def check_head_is_last(model: nn.Module, model_name: str, head: str, input_shape: tuple[int, int, int]) -> None:
    """Refuse models whose output is not their head's output (something runs after the head), or whose head is
    all there is: cached features could not reproduce their logits, or there is no backbone to cache."""
    head_params = {id(p) for p in model.get_submodule(head).parameters()}
    if all(id(p) in head_params for p in model.parameters()):
        raise UserError(f"--cache-features: model {model_name!r} has no layer besides its head {head!r}, so there "
                        "is no backbone to cache; use a model with a backbone (e.g. mobilenet_v3_small)")
    was_training = model.training
    model.eval()
    try:
        features, logits = head_inputs(model, head, torch.zeros(2, *input_shape))
        if features.dim() != 2 or not torch.allclose(model.get_submodule(head)(features), logits, atol=1e-5):
            raise UserError(f"--cache-features: model {model_name!r} computes more after its head {head!r}, so "
                            "cached head inputs cannot reproduce its output; train without --cache-features")
    finally:
        model.train(was_training)
