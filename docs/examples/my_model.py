"""A model of your own: one builder, so that ``--model my_model:tiny_convnet`` (by import path) or, registered by
name, ``--model tiny_convnet`` trains it.

Three ways to use it:

* Name it by import path, with this folder on ``PYTHONPATH``; the checkpoint records the path, so predict.py
  rebuilds the model the same way::

      PYTHONPATH=docs/examples python train.py --model my_model:tiny_convnet --img-size 32

* Put the builder (the import and the decorated function; not the ``__main__`` lines at the end) in a new file in
  ``src/litcls/models/``. Every module there is imported when the registry is first read, so
  ``python train.py --model tiny_convnet`` finds it and ``--list-models`` lists it.
* Or leave this file where it is and run it instead of ``train.py``: it registers the model, then hands every flag
  to ``train.py``'s own entry point::

      python docs/examples/my_model.py --model tiny_convnet --epochs 5
"""

import sys

from torch import nn

from litcls.models import register_model


@register_model(input_size=32)  # the image size used when --img-size is not given
def tiny_convnet(num_classes: int, img_size: tuple[int, int]) -> nn.Module:
    """Two 3x3 conv layers and a linear head (this line shows in --list-models)."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),  # (B, 16, H, W)
        nn.Conv2d(16, 32, 3, padding=1, stride=2), nn.BatchNorm2d(32), nn.ReLU(),  # (B, 32, H/2, W/2)
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (B, 32)
        nn.Linear(32, num_classes),  # the head: the last nn.Linear, kept trainable by --freeze-backbone
    )


if __name__ == "__main__":
    from litcls.cli.train import main

    sys.exit(main())
