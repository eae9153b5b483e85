"""litcls: a PyTorch Lightning template for image classification on folders of images."""

import os

# albumentations asks PyPI for a newer version at every import (2 s timeout and a warning on an offline cluster
# node, in every run and DDP process); a user who wants the check sets the variable to 0.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"
