import os
import subprocess
import sys

import albumentations as A
import numpy as np
import pytest
import torch

from litcls.config import AUGMENT_PRESETS
from litcls.data.transforms import Preprocessing, eval_transform, load_augmentation, train_transform
from litcls.errors import UserError


@pytest.mark.parametrize("preset", AUGMENT_PRESETS)
def test_every_preset_round_trips_through_yaml(preset, tmp_path):
    pipeline = load_augmentation(preset)
    A.save(pipeline, tmp_path / "copy.yaml", data_format="yaml")
    assert A.to_dict(load_augmentation(str(tmp_path / "copy.yaml"))) == A.to_dict(pipeline)


@pytest.mark.parametrize("preset", AUGMENT_PRESETS)
def test_train_pipeline_gives_normalised_tensors_of_the_requested_size(preset):
    image = np.random.default_rng(0).integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    out = train_transform(Preprocessing(img_size=24), preset)(image=image)["image"]
    assert out.shape == (3, 24, 24) and out.dtype == torch.float32


def test_eval_pipeline_is_deterministic():
    image = np.random.default_rng(0).integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    transform = eval_transform(Preprocessing(img_size=16))
    assert torch.equal(transform(image=image)["image"], transform(image=image)["image"])


def test_user_yaml_pipeline_is_used(tmp_path):
    A.save(A.Compose([A.VerticalFlip(p=1.0)]), tmp_path / "flip.yaml", data_format="yaml")
    image = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    pre = Preprocessing(img_size=4, mean=(0, 0, 0), std=(1, 1, 1))
    out = train_transform(pre, str(tmp_path / "flip.yaml"))(image=image)["image"]
    expected = torch.from_numpy(image[::-1].copy()).permute(2, 0, 1).float() / 255
    assert torch.allclose(out, expected)


def test_malformed_yaml_is_explained(tmp_path):
    (tmp_path / "bad.yaml").write_text("transform: {__class_fullname__: NoSuchTransform}\n")
    with pytest.raises(UserError, match="bad.yaml is not an albumentations pipeline"):
        load_augmentation(str(tmp_path / "bad.yaml"))


def test_augmentation_is_reproducible_from_the_seed_with_workers(tmp_path):
    from conftest import make_class_folder
    from litcls.data.datamodule import FolderDataModule
    from litcls.data.scan import scan_folder
    from litcls.data.splits import split_samples

    scan = scan_folder(make_class_folder(tmp_path / "d", {"a": 8, "b": 8}, size=16))
    samples = split_samples(scan, 0.25, 0.25, seed=0)

    def first_batches(seed: int, workers: int) -> torch.Tensor:
        datamodule = FolderDataModule(scan.root, samples, scan.classes, Preprocessing(img_size=16), augment="heavy",
                                      batch_size=4, num_workers=workers, seed=seed)
        datamodule.setup()
        return torch.cat([images for images, _ in datamodule.train_dataloader()])

    for workers in (0, 2):
        assert torch.equal(first_batches(1, workers), first_batches(1, workers))
        assert not torch.equal(first_batches(1, workers), first_batches(2, workers))


def test_importing_the_package_turns_off_albumentations_network_check():
    """An offline training node must not wait on, or warn about, albumentations' PyPI version check."""
    code = "import os, litcls, albumentations; print(os.environ['NO_ALBUMENTATIONS_UPDATE'])"
    env = {key: value for key, value in os.environ.items() if key != "NO_ALBUMENTATIONS_UPDATE"}
    result = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code], env=env, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "1"
