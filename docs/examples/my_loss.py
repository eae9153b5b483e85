"""A loss with a parameter: Poly-1 (Leng et al., "PolyLoss", ICLR 2022): cross-entropy + epsilon * (1 - p_t).

Adding a loss is one entry in ``LOSSES`` of ``src/litcls/recipe/losses.py``: its builder
``(weight, label_smoothing, **parameters) -> nn.Module`` and the parameters it reads, each of which becomes a flag
and a YAML key with its default and help: ``python train.py --loss poly1 --poly-epsilon 2``. The configuration
reads the registry when it is imported, so running this file shows that without editing the package: it adds the
entry first, then hands every flag to ``train.py``'s entry point::

    python docs/examples/my_loss.py --loss poly1 --poly-epsilon 2
"""

import sys

import torch
import torch.nn.functional as F
from torch import nn

from litcls.recipe.losses import LOSSES, Loss, LossParameter


class Poly1Loss(nn.Module):
    """Cross-entropy plus ``epsilon * (1 - p_t)``; takes hard labels ``(B,)`` or soft targets ``(B, C)``."""

    def __init__(self, epsilon: float, weight: torch.Tensor | None, label_smoothing: float):
        super().__init__()
        self.epsilon, self.label_smoothing = epsilon, label_smoothing
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits, targets, weight=self.weight, label_smoothing=self.label_smoothing)
        soft = targets if targets.dim() == 2 else F.one_hot(targets, logits.shape[1]).float()  # (B, C)
        p_t = (soft * logits.softmax(dim=1)).sum(dim=1)  # (B,)
        return ce + self.epsilon * (1 - p_t).mean()


LOSSES["poly1"] = Loss(
    lambda weight, label_smoothing, poly_epsilon: Poly1Loss(poly_epsilon, weight, label_smoothing),
    "cross-entropy + epsilon * (1 - p_t)",
    (LossParameter("poly_epsilon", 1.0, "with --loss poly1: the weight of the 1 - p_t term (0 = cross-entropy)"),),
)


if __name__ == "__main__":
    from litcls.cli.train import main  # imported after the entry: the configuration reads the registry on import

    sys.exit(main())
