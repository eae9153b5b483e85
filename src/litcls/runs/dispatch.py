"""``train.py``'s job: check what can be checked in seconds, then dispatch to one run (:mod:`litcls.runs.fit`) or
a k-fold run (:mod:`litcls.runs.crossval`) or a repeated-seed run (:mod:`litcls.runs.seeds`).

Layering (a module imports only modules below it; ``tests/test_layering.py`` checks there is no cycle)::

    litcls.cli                          command lines
    runs.dispatch                       this module
    runs.resume                         continue a run or a k-fold run from its folder
    runs.crossval, runs.seeds           folds of one sample table / one configuration over seeds, aggregate
    runs.fit                            one run: build -> fit -> evaluate
    runs.build, runs.evaluate           the run's objects from the configuration; the best checkpoint evaluated
    runs.samples, runs.trainer, ...     the sample table checked; the Trainer, its callbacks and loggers
    litcls.config                       the parts' settings gathered, flat keys, rules between parts
    callbacks, tracking, models, evaluation, report, data, recipe
    errors, settings, processes, ...    plumbing, no torch at import
"""

from __future__ import annotations

from pathlib import Path

from litcls.config import TrainConfig
from litcls.model_names import TIMM_PREFIX
from litcls.models import get_model_spec
from litcls.models.pretrained import starting_weights
from litcls.models.timm_models import check_img_size
from litcls.plugins import load_callbacks
from litcls.runs.before_launch import check_launch
from litcls.runs.crossval import cross_validate
from litcls.runs.fit import train_one
from litcls.runs.seeds import repeat_seeds
from litcls.runs.trainer import check_hardware
from litcls.tracking.loggers import check_loggers


def train(config: TrainConfig) -> Path:
    """Run training end to end and return the run folder.

    Everything that can be checked before training (model name, hardware flags, starting weights, then the data
    folder, classes and split sizes) is checked first, so a mistake costs seconds, not an epoch.
    """
    get_model_spec(config.model.name)
    if config.model.name.startswith(TIMM_PREFIX) and config.data.img_size:  # a ViT refuses sizes off its patches
        check_img_size(config.model.name.removeprefix(TIMM_PREFIX), config.data.img_size)
    check_launch(config, check_hardware(config))
    starting_weights(config.model.name, config.model.pretrained, config.model.weights)  # a missing download stops here
    load_callbacks(config.recipe.callbacks)  # --callbacks that do not import or are no Callback stop here
    check_loggers(config.output.logger)  # and so do --logger pkg.module:Class that are no Logger
    if config.repeats.folds:
        return cross_validate(config)
    if config.repeats.seeds:
        return repeat_seeds(config)
    return train_one(config)
