"""Augmentation presets are the YAML files in ``augment_presets/``: listing the folder is the list of names.

Imports nothing heavy, so the configuration can offer the names; dropping a new YAML file into the folder makes
it a preset, with no code edit.
"""

from __future__ import annotations

from pathlib import Path

PRESET_DIR = Path(__file__).with_name("augment_presets")


def augment_presets() -> tuple[str, ...]:
    """The preset names, ``none`` first, then alphabetical."""
    names = sorted(path.stem for path in PRESET_DIR.glob("*.yaml"))
    return tuple(sorted(names, key=lambda name: name != "none"))
