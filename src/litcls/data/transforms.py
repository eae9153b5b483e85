"""Albumentations pipelines: augmentation presets are YAML files, preprocessing is a small record.

Training pipeline = resize -> augmentation (preset or user YAML) -> normalise -> tensor.
Evaluation pipeline = resize -> normalise -> tensor, deterministic.
Resizing first keeps augmentation cheap on large photos and makes presets independent of image size.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path

import albumentations as A
import numpy as np
from albumentations.pytorch import ToTensorV2

from litcls.data.presets import PRESET_DIR, augment_presets
from litcls.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """What an image needs before the model sees it; saved in every checkpoint for prediction."""

    img_size: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def to_dict(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> Preprocessing:
        return cls(img_size=int(values["img_size"]), mean=tuple(values["mean"]), std=tuple(values["std"]))


def load_augmentation(name_or_path: str) -> A.BaseCompose:
    """Load a preset by name or an albumentations YAML file saved with ``A.save(..., data_format='yaml')``."""
    path = PRESET_DIR / f"{name_or_path}.yaml" if name_or_path in augment_presets() else Path(name_or_path)
    if not path.is_file():
        raise UserError(f"--augment: {name_or_path!r} is neither a preset ({', '.join(augment_presets())}) "
                        "nor an existing YAML file")
    try:
        pipeline = A.load(str(path), data_format="yaml")
    except Exception as err:  # albumentations raises several types for a malformed file
        raise UserError(f"--augment: {path} is not an albumentations pipeline: {err}. Write one with "
                        "A.save(pipeline, path, data_format='yaml') or copy a preset from "
                        f"{PRESET_DIR}") from None
    return pipeline


def _resize(pre: Preprocessing) -> A.Resize:
    # area interpolation when shrinking: bilinear alone skips pixels and aliases fine detail
    return A.Resize(pre.img_size, pre.img_size, area_for_downscale="image")


def eval_transform(pre: Preprocessing) -> A.Compose:
    return A.Compose([_resize(pre), A.Normalize(pre.mean, pre.std), ToTensorV2()])


def train_transform(pre: Preprocessing, augment: str) -> A.Compose:
    return A.Compose([_resize(pre), load_augmentation(augment), A.Normalize(pre.mean, pre.std), ToTensorV2()])


def seed_augmentation(pipeline: A.BaseCompose, seed: int) -> None:
    """Seed a pipeline's random draws, which come from albumentations' own generators, not numpy's global one.

    One generator is shared by every transform of the pipeline (albumentations' ``set_random_seed`` would give
    each transform its own generator with the same seed, so their draws would move in lockstep).
    """
    pipeline.set_random_state(np.random.default_rng(seed), random.Random(seed))
