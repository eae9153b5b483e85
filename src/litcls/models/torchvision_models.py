"""torchvision's ImageNet architectures, with the head sized from the data and ImageNet weights for --pretrained
(:mod:`litcls.models.torchvision_weights`).

The modules are torchvision's own, unwrapped, so their state-dict keys are torchvision's and its weight files
load as they are. Heads: ``fc`` for the ResNets, the last layer of ``classifier`` for the MobileNets. For
``--in-chans 1`` the registry replaces their first convolution (:func:`litcls.models.spec.set_input_channels`).
"""

from __future__ import annotations

from functools import partial

from torch import nn
from torchvision import models as tv

from litcls.models.registry import register_model
from litcls.models.torchvision_weights import torchvision_weights

# torchvision's MobileNetV3 updates its batch-norm statistics with momentum 0.01 (TensorFlow's decay 0.99), tuned
# for ImageNet's 5,000 steps an epoch. With a few dozen steps an epoch the running statistics lag epochs behind
# the weights: trained from scratch on the digits, evaluation gave the same output for every image (val acc 0.10
# after 6 epochs, where the same weights with batch statistics scored 0.77). PyTorch's default 0.1 keeps up; the
# momentum is not stored in the weights, so the ImageNet weights load unchanged.
MOBILENET_V3_NORM = partial(nn.BatchNorm2d, eps=0.001, momentum=0.1)


@register_model(input_size=224,
                pretrained=torchvision_weights(tv.ResNet18_Weights.DEFAULT, "resnet18"))
def resnet18(num_classes: int, img_size: tuple[int, int]) -> nn.Module:
    """ResNet-18 (torchvision; He et al. 2016): 7x7 stride-2 stem, four stages of basic blocks."""
    return tv.resnet18(num_classes=num_classes)


@register_model(input_size=224,
                pretrained=torchvision_weights(tv.ResNet34_Weights.DEFAULT, "resnet34"))
def resnet34(num_classes: int, img_size: tuple[int, int]) -> nn.Module:
    """ResNet-34 (torchvision; He et al. 2016): four stages of basic blocks."""
    return tv.resnet34(num_classes=num_classes)


@register_model(input_size=224,
                pretrained=torchvision_weights(tv.ResNet50_Weights.DEFAULT, "resnet50"))
def resnet50(num_classes: int, img_size: tuple[int, int]) -> nn.Module:
    """ResNet-50 (torchvision; He et al. 2016): four stages of bottleneck blocks."""
    return tv.resnet50(num_classes=num_classes)


@register_model(input_size=224,
                pretrained=torchvision_weights(tv.MobileNet_V2_Weights.DEFAULT, "mobilenet_v2"))
def mobilenet_v2(num_classes: int, img_size: tuple[int, int]) -> nn.Module:
    """MobileNetV2 (torchvision; Sandler et al. 2018): inverted residual blocks for phones."""
    return tv.mobilenet_v2(num_classes=num_classes)


@register_model(input_size=224,
                pretrained=torchvision_weights(tv.MobileNet_V3_Small_Weights.DEFAULT, "mobilenet_v3_small"))
def mobilenet_v3_small(num_classes: int, img_size: tuple[int, int]) -> nn.Module:
    """MobileNetV3-Small (torchvision; Howard et al. 2019): the lightest ImageNet model here."""
    return tv.mobilenet_v3_small(num_classes=num_classes, norm_layer=MOBILENET_V3_NORM)


@register_model(input_size=224,
                pretrained=torchvision_weights(tv.MobileNet_V3_Large_Weights.DEFAULT, "mobilenet_v3_large"))
def mobilenet_v3_large(num_classes: int, img_size: tuple[int, int]) -> nn.Module:
    """MobileNetV3-Large (torchvision; Howard et al. 2019)."""
    return tv.mobilenet_v3_large(num_classes=num_classes, norm_layer=MOBILENET_V3_NORM)
