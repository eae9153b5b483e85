"""The named test-time augmentation policies: each view keeps the image's shape and moves its pixels as named; the
command line offers exactly the policies there are."""

import pytest
import torch

from litcls.cli.predict import TTA_DEFAULT, TTA_POLICIES
from litcls.inference.tta import DEFAULT, POLICIES, policy_views, shift


def test_the_command_line_offers_every_policy_and_tta_alone_means_flip():
    assert TTA_POLICIES == POLICIES and TTA_DEFAULT == DEFAULT == "flip"
    assert [len(policy_views(policy, 16)) for policy in POLICIES] == [1, 2, 3, 5, 6]
    assert len(policy_views(True, 16)) == 2 and len(policy_views(False, 16)) == 1  # older callers' booleans
    with pytest.raises(ValueError, match="unknown TTA policy 'mirror'"):
        policy_views("mirror", 16)


def test_views_mirror_and_shift_with_edge_pixels_repeated():
    image = torch.arange(2 * 4 * 4, dtype=torch.float32).view(2, 4, 4)
    identity, mirror, upside_down = policy_views("flips", 4)
    assert torch.equal(identity(image), image)
    assert torch.equal(mirror(image)[..., 0], image[..., 3]) and torch.equal(upside_down(image)[:, 0], image[:, 3])
    down = shift(1, 0)(image)
    assert down.shape == image.shape
    assert torch.equal(down[:, 1:], image[:, :3]) and torch.equal(down[:, 0], image[:, 0])
    left = shift(0, -1)(image)
    assert torch.equal(left[..., :3], image[..., 1:]) and torch.equal(left[..., 3], image[..., 3])
    assert policy_views("shift", 64)[1](torch.zeros(3, 64, 64)).shape == (3, 64, 64)  # 4 px at 64: 1/16
