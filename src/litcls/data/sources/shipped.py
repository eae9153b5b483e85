"""The sources litcls ships: a folder of class folders (plain or split into train/val/test), a CSV/TSV manifest,
and the built-in datasets (written once as class folders, so they read as a folder)."""

from __future__ import annotations

from litcls.data.builtin import BUILTIN_DATASETS, BUILTIN_MANIFESTS, resolve_data
from litcls.data.label_sets import LabelForm
from litcls.data.manifest import manifest_root, read_manifest
from litcls.data.samples import SampleTable
from litcls.data.scan import scan_folder
from litcls.data.sources.registry import DataSpec, Source, register_source
from litcls.errors import UserError

MANIFEST_OPTIONS = ("path_col", "label_col", "group_col", "split_col", "image_root")
MULTI_LABEL_OPTIONS = ("label_sep", "negative_label", "label_cols", "uncertain", "missing")


def _given(spec: DataSpec, options: tuple[str, ...]) -> list[str]:
    defaults = DataSpec(spec.data)
    return [f"--{name.replace('_', '-')}" for name in options if getattr(spec, name) != getattr(defaults, name)]


def read_class_folders(spec: DataSpec) -> SampleTable:
    """``--data FOLDER`` or a built-in name: the class is the folder name; manifest options are a mistake here."""
    multi = _given(spec, MULTI_LABEL_OPTIONS)
    if multi:
        raise UserError(f"{', '.join(multi)}: multi-label needs a CSV or TSV manifest (--data labels.csv with "
                        f"--label-col and --label-sep, or --label-cols) or --data digits-grid; {spec.data} is a "
                        "folder of class folders, one class per image")
    given = _given(spec, MANIFEST_OPTIONS)
    if given:
        raise UserError(f"{', '.join(given)}: for a CSV or TSV manifest (--data labels.csv); {spec.data} is a folder "
                        "of class folders, whose class is the folder name")
    return scan_folder(resolve_data(spec.data), workers=spec.num_workers)


def read_builtin_manifest(spec: DataSpec) -> SampleTable:
    """A built-in dataset written as images and a manifest (``digits-grid``): its own labels, no manifest options."""
    given = _given(spec, MANIFEST_OPTIONS + MULTI_LABEL_OPTIONS[:3])
    if given:
        raise UserError(f"{', '.join(given)}: --data {spec.data} is a built-in dataset that gives its own labels; "
                        "leave these out")
    file, label_col, label_sep = BUILTIN_MANIFESTS[spec.data]
    form = LabelForm(label_col, label_sep, uncertain=spec.uncertain, missing=spec.missing)
    return read_manifest(resolve_data(spec.data) / file, workers=spec.num_workers, labels=form)


def read_manifest_file(spec: DataSpec) -> SampleTable:
    """``--data labels.csv``: one row per image (see :func:`litcls.data.manifest.read_manifest`)."""
    return read_manifest(spec.data, spec.path_col, spec.label_col, spec.group_col, spec.split_col, spec.image_root,
                         workers=spec.num_workers, labels=spec.labels)


FOLDER = Source(read_class_folders, root=lambda spec: resolve_data(spec.data))
MANIFEST = Source(read_manifest_file, root=lambda spec: manifest_root(spec.data, spec.image_root))

for _name in BUILTIN_DATASETS:
    register_source(_name, FOLDER.root)(read_builtin_manifest if _name in BUILTIN_MANIFESTS else read_class_folders)
