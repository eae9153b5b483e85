"""The sources litcls ships: a folder of class folders (plain or split into train/val/test), a CSV/TSV manifest,
and the built-in datasets (written once as class folders, so they read as a folder)."""

from __future__ import annotations

from litcls.data.builtin import BUILTIN_DATASETS, resolve_data
from litcls.data.manifest import manifest_root, read_manifest
from litcls.data.samples import SampleTable
from litcls.data.scan import scan_folder
from litcls.data.sources.registry import DataSpec, Source, register_source
from litcls.errors import UserError

MANIFEST_OPTIONS = ("path_col", "label_col", "group_col", "split_col", "image_root")


def read_class_folders(spec: DataSpec) -> SampleTable:
    """``--data FOLDER`` or a built-in name: the class is the folder name; manifest options are a mistake here."""
    defaults = DataSpec(spec.data)
    given = [f"--{name.replace('_', '-')}" for name in MANIFEST_OPTIONS
             if getattr(spec, name) != getattr(defaults, name)]
    if given:
        raise UserError(f"{', '.join(given)}: for a CSV or TSV manifest (--data labels.csv); {spec.data} is a folder "
                        "of class folders, whose class is the folder name")
    return scan_folder(resolve_data(spec.data), workers=spec.num_workers)


def read_manifest_file(spec: DataSpec) -> SampleTable:
    """``--data labels.csv``: one row per image (see :func:`litcls.data.manifest.read_manifest`)."""
    return read_manifest(spec.data, spec.path_col, spec.label_col, spec.group_col, spec.split_col, spec.image_root,
                         workers=spec.num_workers)


FOLDER = Source(read_class_folders, root=lambda spec: resolve_data(spec.data))
MANIFEST = Source(read_manifest_file, root=lambda spec: manifest_root(spec.data, spec.image_root))

for _name in BUILTIN_DATASETS:
    register_source(_name, FOLDER.root)(read_class_folders)
