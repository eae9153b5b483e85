"""Every YAML file shipped in configs/ must load, so examples never rot."""

from pathlib import Path

import pytest

from litcls.config import load_yaml, resolve
from litcls.data.transforms import load_augmentation

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_experiment_configs_resolve(path):
    resolve(load_yaml(path), {})


@pytest.mark.parametrize("path", sorted((CONFIGS / "augment").glob("*.yaml")), ids=lambda p: p.name)
def test_augmentation_files_load(path):
    assert load_augmentation(str(path)).transforms
