"""The course's first models: a softmax (linear) classifier and a multi-layer perceptron on raw pixels."""

from __future__ import annotations

from torch import nn

from litcls.models.registry import register_model


class MLP(nn.Module):
    """Flattened pixels -> hidden layers with ReLU and dropout -> class scores. No hidden layer = softmax."""

    def __init__(self, in_features: int, num_classes: int, hidden: tuple[int, ...] = (), dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        for width in hidden:
            layers += [nn.Linear(in_features, width), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            in_features = width
        layers.append(nn.Linear(in_features, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)  # (B, C, H, W) -> (B, num_classes)


def pixels(img_size: tuple[int, int], in_chans: int) -> int:
    """The length of a flattened image: channels x height x width."""
    return in_chans * img_size[0] * img_size[1]


@register_model(input_size=32)
def linear(num_classes: int, img_size: tuple[int, int], in_chans: int = 3) -> nn.Module:
    """Softmax regression on raw pixels: one linear layer."""
    return MLP(pixels(img_size, in_chans), num_classes)


@register_model(input_size=32)
def mlp(num_classes: int, img_size: tuple[int, int], in_chans: int = 3) -> nn.Module:
    """Two hidden layers (512, 256) with ReLU and dropout on raw pixels."""
    return MLP(pixels(img_size, in_chans), num_classes, hidden=(512, 256), dropout=0.2)
