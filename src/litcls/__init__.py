"""litcls: a PyTorch Lightning template for image classification on folders of images."""

__version__ = "0.1.0"
