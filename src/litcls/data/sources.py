"""The one data-source seam: ``--data`` and its options -> the sample table everything downstream uses.

A source is one function from a :class:`DataSpec` to a :class:`~litcls.data.samples.SampleTable`: a built-in
dataset (written once as a class folder), an image folder (:func:`~litcls.data.scan.scan_folder`) or a CSV/TSV
manifest (:func:`~litcls.data.manifest.read_manifest`). What every source gets afterwards is done here once:
groups (``--group-col``, ``--group-pattern`` or ``--groups``), byte-identical copies (``--dedupe``). Training,
k-fold, resume and the run-folder readers find the images through :func:`load_samples` and :func:`image_root`.
To add a source, write its function and add a branch to :func:`_read_source`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from litcls.data.builtin import resolve_data
from litcls.data.duplicates import drop_duplicates, find_duplicates
from litcls.data.groups import attach_groups, groups_from_pattern
from litcls.data.manifest import read_manifest
from litcls.data.samples import SampleTable
from litcls.data.scan import scan_folder
from litcls.data.source_paths import is_manifest, manifest_root
from litcls.errors import UserError

MANIFEST_OPTIONS = ("path_col", "label_col", "group_col", "split_col", "image_root")


@dataclass(frozen=True)
class DataSpec:
    """Where the images are and how to read them (the data flags of ``train.py``)."""

    data: str
    path_col: str = "path"
    label_col: str = "label"
    group_col: str | None = None
    split_col: str | None = None
    image_root: str | None = None
    group_pattern: str | None = None
    groups: str | None = None
    dedupe: bool = False
    num_workers: int = 0  # processes that check images the scan index has not seen

    @classmethod
    def of(cls, settings: object) -> DataSpec:
        """The spec from any object with these attributes (a ``TrainConfig``)."""
        return cls(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(cls)})


def image_root(spec: DataSpec) -> Path:
    """The folder the sample table's paths are relative to (a built-in dataset is written on first use)."""
    if is_manifest(spec.data):
        return manifest_root(spec.data, spec.image_root)
    return resolve_data(spec.data)


def _read_source(spec: DataSpec) -> SampleTable:
    if is_manifest(spec.data):
        return read_manifest(spec.data, spec.path_col, spec.label_col, spec.group_col, spec.split_col,
                             spec.image_root, workers=spec.num_workers)
    defaults = DataSpec(spec.data)
    given = [f"--{name.replace('_', '-')}" for name in MANIFEST_OPTIONS
             if getattr(spec, name) != getattr(defaults, name)]
    if given:
        raise UserError(f"{', '.join(given)}: for a CSV or TSV manifest (--data labels.csv); {spec.data} is a folder "
                        "of class folders, whose class is the folder name")
    return scan_folder(image_root(spec), workers=spec.num_workers)


def load_samples(spec: DataSpec) -> tuple[SampleTable, list[list[str]]]:
    """Read the source, attach groups, find byte-identical images (keeping one of each with ``--dedupe``).

    Returns:
        The sample table (``split`` set where the source gives one, empty otherwise) and the sets of identical
        images still in it.
    """
    table = _read_source(spec)
    if spec.group_pattern:
        table = groups_from_pattern(table, spec.group_pattern)
    elif spec.groups:
        table = attach_groups(table, spec.groups)
    duplicates = find_duplicates(table.root, table.samples["path"])
    if spec.dedupe and duplicates:
        return drop_duplicates(table, duplicates), []
    return table, duplicates
