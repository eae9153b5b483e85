"""``--head``: the layer(s) on top of a transfer model's backbone.

``linear`` keeps the model's own last layer. ``mlp`` replaces it with what Teachable Machine trains on its
truncated MobileNet: a small dense layer (100 units, ReLU), dropout, then the class scores. The replacement keeps
the head's name (``classifier.3``, ``fc``), so freezing, starting weights and ``--cache-features`` see one head.
"""

from __future__ import annotations

from torch import nn

from litcls.errors import UserError

MLP_HIDDEN = 100  # Teachable Machine's dense layer


class MLPHead(nn.Sequential):
    """Linear(in, 100) -> ReLU -> Dropout -> Linear(100, classes). Its own type marks it as the model's head for
    :meth:`litcls.models.spec.ModelSpec.head_name`, which would otherwise pick its last linear layer."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = MLP_HIDDEN, dropout: float = 0.2):
        super().__init__(nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                         nn.Linear(hidden, num_classes))


def replace_head(model: nn.Module, model_name: str, head: str, kind: str) -> None:
    """Put a ``kind`` head in place of ``model``'s submodule ``head`` (``linear`` leaves the model as built).

    Raises:
        UserError: the head is not one linear layer, or it is the whole model (nothing to put it on).
    """
    if kind == "linear":
        return
    old = model.get_submodule(head)
    if not isinstance(old, nn.Linear) or all(any(p is q for q in old.parameters()) for p in model.parameters()):
        raise UserError(f"--head {kind}: model {model_name!r} has no separable head (its head {head!r} is "
                        f"{'the whole model' if isinstance(old, nn.Linear) else type(old).__name__}); use a transfer "
                        "model such as mobilenet_v3_small or resnet18, or --head linear")
    parent, _, name = head.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, name, MLPHead(old.in_features, old.out_features))
