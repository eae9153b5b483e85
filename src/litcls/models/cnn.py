"""A small VGG-style convolutional network for 32-64 px images."""

from __future__ import annotations

from torch import nn

from litcls.models.registry import register_model


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """Three stages of two 3x3 conv layers, each halving the resolution, then global average pooling."""

    def __init__(self, num_classes: int, widths: tuple[int, int, int] = (32, 64, 128), dropout: float = 0.2,
                 in_chans: int = 3):
        super().__init__()
        stages, in_channels = [], in_chans
        for width in widths:
            stages += [conv_bn_relu(in_channels, width), conv_bn_relu(width, width), nn.MaxPool2d(2)]
            in_channels = width
        self.features = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(in_channels, num_classes))

    def forward(self, x):
        x = self.features(x)  # (B, C, H, W) -> (B, 128, H/8, W/8)
        x = self.pool(x)  # -> (B, 128, 1, 1)
        return self.classifier(x)  # -> (B, num_classes)


@register_model(input_size=32)
def cnn(num_classes: int, img_size: tuple[int, int], in_chans: int = 3) -> nn.Module:
    """Six 3x3 conv layers (32-64-128 channels) with batch norm; suits 32-64 px."""
    return SmallCNN(num_classes, in_chans=in_chans)
