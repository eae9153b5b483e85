"""litcls: a PyTorch Lightning template for image classification on folders of images.

Layers, lowest first. A part (a subpackage, or a module at this level) imports only parts on its own line or on
the lines above it, never one below, and no two parts import each other (``tests/test_layering.py`` reads this
table and checks the code against it)::

    errors, cache, processes, suggest, quiet, files, shell  plumbing: exceptions, caches, rank, hints, writes, commands
    devices                                     the devices a command names, as Lightning takes them
    settings                                    what a part's settings are made of: fields with their flag's help
    plugins                                     objects named on the command line by import path
    tasks                                       single-label, multi-label: activation, decisions, thresholds
    data, recipe                                sample tables, splits, transforms, datamodules; losses, optimizers
    report                                      figures, tables and pages drawn from numbers and files
    evaluation                                  metric table and pure evaluation functions
    model_names                                 the names --model accepts, read without importing the models
    models                                      registry, builders, starting weights, the LightningModule
    config                                      the parts' settings gathered: defaults < YAML < flags, validated
    tracking                                    experiment loggers
    callbacks                                   what a person looks at, written during training
    runs                                        one run (build, fit, evaluate), k-fold, seeds, resume, run folders
    inference                                   a trained checkpoint put to use: predict, export
    cli                                         train.py, predict.py, demo.py and python -m litcls.stream
    stream                                      the python -m litcls.stream entry point
"""

import os

# albumentations asks PyPI for a newer version at every import (2 s timeout and a warning on an offline cluster
# node, in every run and DDP process); a user who wants the check sets the variable to 0.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"
