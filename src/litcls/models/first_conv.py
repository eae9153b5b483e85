"""A network built for RGB made to take another number of channels (``--in-chans 1``) by changing its first
convolution only, so that the rest, and any pretrained weights already in it, stay as they are."""

from __future__ import annotations

import torch
from torch import nn

RGB = 3


def adapt_first_conv(model: nn.Module, in_chans: int) -> nn.Module:
    """Replace ``model``'s first ``nn.Conv2d`` that reads 3 channels with one that reads ``in_chans``; return
    ``model``.

    One channel gets the sum of the RGB kernels: a grey image repeated to RGB then gives the old convolution's
    output exactly, so pretrained weights keep their meaning (the rule of timm's ``adapt_input_conv``). On a
    randomly initialised network the sum of three kernels has the variance a fresh one-channel kernel would get.
    """
    if in_chans == RGB:
        return model
    if in_chans != 1:
        raise ValueError(f"only 1 or 3 input channels are supported, got {in_chans}")
    found = next(((name, module) for name, module in model.named_modules()
                  if isinstance(module, nn.Conv2d) and module.in_channels == RGB), None)
    if found is None:
        raise ValueError(f"{type(model).__name__} has no convolution that reads 3 channels to adapt to {in_chans}")
    name, conv = found
    grey = nn.Conv2d(in_chans, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                     conv.groups, conv.bias is not None, conv.padding_mode, device=conv.weight.device,
                     dtype=conv.weight.dtype)
    if conv.weight.device.type != "meta":
        with torch.no_grad():
            grey.weight.copy_(conv.weight.sum(dim=1, keepdim=True))  # (out, 3, k, k) -> (out, 1, k, k)
            if conv.bias is not None:
                grey.bias.copy_(conv.bias)
    if not name:  # the model is the convolution itself
        return grey
    model.set_submodule(name, grey)
    return model
