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


@pytest.mark.parametrize("path", sorted((CONFIGS / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_sweep_parameters_are_train_py_flags(path):
    """A sweep passes ``--name=value`` for every parameter: each must be a flag with a valid value."""
    import yaml

    from litcls.cli.train import parse_config

    sweep = yaml.safe_load(path.read_text())
    assert sweep["program"] == "train.py"
    for name, spec in sweep["parameters"].items():
        for value in spec.get("values", [spec.get("value", spec.get("min"))]):
            parse_config([f"--{name}={value}"])  # exactly what ${args} expands to
