"""``--compile``: ``torch.compile`` the network in place, or keep it eager with a warning where that fails.

``nn.Module.compile`` keeps the module and its state-dict keys, so checkpoints, EMA and Grad-CAM see the same
model. Compilation is lazy: a trial step -- forward and backward in training mode, then a forward in evaluation
mode, as training and validation will call it -- is where a platform without a working compiler fails (inductor
compiles the backward pass separately, so a forward alone can succeed), and then the module is put back to eager.
The trial's batch-norm updates and gradients are undone.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


def compile_or_warn(model: nn.Module, input_shape: tuple[int, int, int]) -> bool:
    """Compile ``model`` and try it on two images of ``input_shape`` (C, H, W); returns whether it stayed
    compiled."""
    try:
        model.compile()
        was_training = model.training
        buffers = [buffer.clone() for buffer in model.buffers()]
        images = torch.zeros(2, *input_shape)
        try:
            model.train()
            model(images).float().sum().backward()
            model.eval()
            with torch.no_grad():
                model(images)
        finally:
            model.train(was_training)
            with torch.no_grad():
                for buffer, saved in zip(model.buffers(), buffers, strict=True):
                    buffer.copy_(saved)
            for parameter in model.parameters():
                parameter.grad = None
        return True
    except Exception as err:  # inductor and dynamo raise many types (no C++ compiler, unsupported operation)
        model._compiled_call_impl = None  # back to eager
        torch._dynamo.reset()
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        warnings.warn(f"--compile: torch.compile failed on this platform ({first[:200]}); training without it",
                      stacklevel=2)
        return False
