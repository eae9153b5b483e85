"""ResNets for 32 px images as in He et al. 2016, "Deep Residual Learning for Image Recognition", section 4.2.

A 3x3 stem, three stages of ``n`` basic blocks at 16, 32 and 64 channels (feature maps of 32, 16 and 8 px
for a 32 px input), global average pooling and one linear layer: ``6n + 2`` weighted layers. Names of the
layers follow torchvision's ``models/resnet.py`` (``conv1``, ``layer1``..``layer3``, ``fc``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from litcls.models.registry import register_model


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


class ZeroPadShortcut(nn.Module):
    """Shortcut option A (sec. 3.3, used for CIFAR in sec. 4.2): identity, subsampled by striding, with the
    extra channels filled with zeros. It has no parameters, which keeps ResNet-20 at 0.27M of them."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.stride = stride
        self.extra_channels = out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # (B, C, H, W) -> (B, C, H/s, W/s)
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))  # -> (B, C + extra, H/s, W/s)


class BasicBlock(nn.Module):
    """Two 3x3 conv layers with batch norm; the input is added back before the last ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = ZeroPadShortcut(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.shortcut(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class CifarResNet(nn.Module):
    """ResNet-``depth`` for small images; ``depth`` = 6n + 2 (20, 32, 44, 56, 110)."""

    def __init__(self, depth: int, num_classes: int, widths: tuple[int, int, int] = (16, 32, 64), in_chans: int = 3):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 (20, 32, 44, 56, 110), got {depth}")
        blocks = (depth - 2) // 6
        self.conv1 = conv3x3(in_chans, widths[0])
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_stage(widths[0], widths[0], blocks, stride=1)
        self.layer2 = self._make_stage(widths[0], widths[1], blocks, stride=2)
        self.layer3 = self._make_stage(widths[1], widths[2], blocks, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[2], num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):  # He et al. 2015 initialisation, as the paper does
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @staticmethod
    def _make_stage(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
        """``blocks`` basic blocks; the first one subsamples by ``stride`` and widens to ``out_channels``."""
        layers = [BasicBlock(in_channels, out_channels, stride)]
        layers += [BasicBlock(out_channels, out_channels) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (B, C, H, W) -> (B, 16, H, W)
        x = self.layer1(x)  # -> (B, 16, H, W)
        x = self.layer2(x)  # -> (B, 32, H/2, W/2)
        x = self.layer3(x)  # -> (B, 64, H/4, W/4)
        x = torch.flatten(self.avgpool(x), 1)  # -> (B, 64)
        return self.fc(x)  # -> (B, num_classes)


@register_model(input_size=32)
def resnet20(num_classes: int, img_size: tuple[int, int], in_chans: int = 3) -> nn.Module:
    """ResNet-20 for 32 px images (He et al. 2016, sec. 4.2): 3 stages x 3 basic blocks, 16-32-64 channels."""
    return CifarResNet(20, num_classes, in_chans=in_chans)


@register_model(input_size=32)
def resnet32(num_classes: int, img_size: tuple[int, int], in_chans: int = 3) -> nn.Module:
    """ResNet-32 for 32 px images (He et al. 2016, sec. 4.2): 3 stages x 5 basic blocks."""
    return CifarResNet(32, num_classes, in_chans=in_chans)


@register_model(input_size=32)
def resnet56(num_classes: int, img_size: tuple[int, int], in_chans: int = 3) -> nn.Module:
    """ResNet-56 for 32 px images (He et al. 2016, sec. 4.2): 3 stages x 9 basic blocks."""
    return CifarResNet(56, num_classes, in_chans=in_chans)
