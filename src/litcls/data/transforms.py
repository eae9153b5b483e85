"""Albumentations pipelines: augmentation presets are YAML files, preprocessing is a small record.

Training pipeline = resize -> augmentation (preset or user YAML) -> normalise -> tensor.
Evaluation pipeline = resize -> normalise -> tensor, deterministic.
Resizing first keeps augmentation cheap on large photos and makes presets independent of image size.

The resize meets the (height, width) of ``--img-size`` in one of three ways (``--resize``): ``squash`` stretches
the image to it, ``pad`` fits the longer side and fills the border (``LongestMaxSize`` + ``PadIfNeeded``),
``crop`` fits the shorter side and cuts the centre (``SmallestMaxSize`` + ``CenterCrop``).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
from albumentations.pytorch import ToTensorV2

from litcls.data.image_size import ImageSize, format_image_size, parse_image_size
from litcls.data.presets import PRESET_DIR, augment_presets
from litcls.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# ITU-R 601-2 luma, the weights Pillow's convert("L") gives a grey image (litcls.data.decode.to_grey)
LUMA = (0.299, 0.587, 0.114)
PAD_FILL = 0  # the border --resize pad adds: black in every channel


@dataclass(frozen=True)
class Preprocessing:
    """What an image needs before the model sees it; saved in every checkpoint for prediction.

    Attributes:
        img_size: (height, width) the image is resized to; a plain number (as older checkpoints hold) is a square.
        mean, std: per-channel normalisation, one value per channel.
        in_chans: 3 for RGB, 1 for grey.
        resize: ``squash``, ``pad`` or ``crop`` (see the module's docstring).
    """

    img_size: ImageSize
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    in_chans: int = 3
    resize: str = "squash"

    def __post_init__(self):
        object.__setattr__(self, "img_size", parse_image_size(self.img_size))
        object.__setattr__(self, "mean", tuple(self.mean))
        object.__setattr__(self, "std", tuple(self.std))
        if not len(self.mean) == len(self.std) == self.in_chans:
            raise ValueError(f"{self.in_chans} channels need as many mean and std values, got {self.mean} "
                             f"and {self.std}")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one model input."""
        return (self.in_chans, *self.img_size)

    def with_input(self, in_chans: int, resize: str) -> Preprocessing:
        """These statistics for ``in_chans`` channels and the ``resize`` rule; RGB statistics become grey ones
        by the luma weights that turn an RGB pixel grey, grey ones are repeated for RGB."""
        mean, std = self.mean, self.std
        if in_chans == 1 and len(mean) == 3:
            mean, std = (float(np.dot(LUMA, mean)),), (float(np.dot(LUMA, std)),)
        elif in_chans == 3 and len(mean) == 1:
            mean, std = mean * 3, std * 3
        return dataclasses.replace(self, mean=mean, std=std, in_chans=in_chans, resize=resize)

    def to_dict(self) -> dict:
        values = {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}
        return values | {"img_size": format_image_size(self.img_size)}

    @classmethod
    def from_dict(cls, values: dict) -> Preprocessing:
        """Read :meth:`to_dict`'s output, also from checkpoints written before grey and non-square images."""
        return cls(img_size=values["img_size"], mean=tuple(values["mean"]), std=tuple(values["std"]),
                   in_chans=int(values.get("in_chans", 3)), resize=values.get("resize", "squash"))


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


def resize_transforms(pre: Preprocessing) -> list[A.BasicTransform]:
    """The transforms that bring any image to ``pre.img_size`` by ``pre.resize``."""
    height, width = pre.img_size
    # area interpolation when shrinking: bilinear alone skips pixels and aliases fine detail
    if pre.resize == "pad":
        return [A.LongestMaxSize(max_size_hw=(height, width), area_for_downscale="image"),
                A.PadIfNeeded(height, width, border_mode=cv2.BORDER_CONSTANT, fill=PAD_FILL)]
    if pre.resize == "crop":
        return [A.SmallestMaxSize(max_size_hw=(height, width), area_for_downscale="image"),
                A.CenterCrop(height, width)]
    return [A.Resize(height, width, area_for_downscale="image")]


def eval_transform(pre: Preprocessing) -> A.Compose:
    return A.Compose([*resize_transforms(pre), A.Normalize(pre.mean, pre.std), ToTensorV2()])


def train_transform(pre: Preprocessing, augment: str) -> A.Compose:
    return A.Compose([*resize_transforms(pre), load_augmentation(augment), A.Normalize(pre.mean, pre.std),
                      ToTensorV2()])


def seed_augmentation(pipeline: A.BaseCompose, seed: int) -> None:
    """Seed a pipeline's random draws, which come from albumentations' own generators, not numpy's global one.

    One generator is shared by every transform of the pipeline (albumentations' ``set_random_seed`` would give
    each transform its own generator with the same seed, so their draws would move in lockstep).
    """
    pipeline.set_random_state(np.random.default_rng(seed), random.Random(seed))
