"""The resize written in tensor operations for exported graphs equals training's albumentations/OpenCV resize."""

import albumentations as A
import numpy as np
import pytest
import torch

from litcls.data.transforms import Preprocessing, resize_transforms
from litcls.inference.opencv_resize import resize_like_training

SIZE = 32


@pytest.mark.parametrize(("height", "width", "levels"), [
    (300, 200, 0), (1000, 750, 0), (64, 64, 0), (45, 37, 0), (33, 32, 0),  # INTER_AREA, box averages: exact
    (32, 32, 0),  # unchanged
    (8, 8, 1), (17, 25, 1),  # INTER_LINEAR: OpenCV's fixed-point weights differ by one level on some pixels
    (40, 20, 1), (31, 200, 1),  # one side larger, one smaller: OpenCV's two-tap area mode
])
def test_resize_matches_training_within_one_level(height, width, levels):
    pixels = np.random.default_rng(height * width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    expected = A.Resize(SIZE, SIZE, area_for_downscale="image")(image=pixels)["image"].astype(np.float32)
    resized = resize_like_training(torch.from_numpy(pixels).permute(2, 0, 1)[None].float(), SIZE)
    difference = np.abs(resized[0].permute(1, 2, 0).numpy() - expected)
    assert difference.max() <= levels
    assert (difference > 0).mean() < 0.15  # a one-level difference stays the exception


@pytest.mark.parametrize("mode", ["squash", "pad", "crop"])
@pytest.mark.parametrize(("height", "width"), [(300, 200), (45, 37), (31, 200), (17, 25), (48, 64), (7, 100)])
def test_non_square_resize_modes_match_training_within_one_level(mode, height, width):
    """--img-size 48x64 by --resize squash, pad (a black border) and crop (the centre), as albumentations does."""
    pixels = np.random.default_rng(height + width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    expected = A.Compose(resize_transforms(Preprocessing((48, 64), resize=mode)))(image=pixels)["image"]
    resized = resize_like_training(torch.from_numpy(pixels).permute(2, 0, 1)[None].float(), (48, 64), mode)
    difference = np.abs(resized[0].permute(1, 2, 0).numpy() - expected.astype(np.float32))
    assert expected.shape == (48, 64, 3)
    assert difference.max() <= 1
    assert (difference > 0).mean() < 0.15
