"""The one data-source seam: ``--data`` and its options -> the sample table everything downstream uses.

A source is a loader from a :class:`DataSpec` to a :class:`~litcls.data.samples.SampleTable`: a CSV/TSV manifest
and a folder are found by their path, every other source by its name in the registry
(:data:`~litcls.data.sources.registry.SOURCES`: the built-in datasets, and yours). What every source gets
afterwards is done here once: groups (``--group-col``, ``--group-pattern`` or ``--groups``), byte-identical copies
(``--dedupe``). Training, k-fold, resume and the run-folder readers find the images through :func:`load_samples`
and :func:`image_root`.

Adding a source is one file in this package with a loader under ``@register_source("name")``; every module here
is imported with the package, so ``--data name`` finds it.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from litcls.data.duplicates import drop_duplicates, find_duplicates
from litcls.data.groups import attach_groups, groups_from_pattern
from litcls.data.manifest import is_manifest
from litcls.data.samples import SampleTable
from litcls.data.sources.registry import SOURCES, DataSpec, Source, register_source
from litcls.data.sources.shipped import FOLDER, MANIFEST
from litcls.data.stream.table import read_table


def source_of(data: str) -> Source:
    """``--data`` -> its source: one that claims it by its form (a stream's URL or folder), else a ``.csv``/``.tsv``
    file is a manifest, an existing folder or an unknown name a folder (whose absence the folder reader reports),
    a registered name its source."""
    claimed = next((source for source in SOURCES.values() if source.claims and source.claims(data)), None)
    if claimed:
        return claimed
    if is_manifest(data):
        return MANIFEST
    if data in SOURCES and not Path(data).is_dir():
        return SOURCES[data]
    return FOLDER


def image_root(spec: DataSpec) -> Path:
    """The folder the sample table's paths are relative to (a built-in dataset is written on first use)."""
    return source_of(spec.data).image_root(spec)


def load_samples(spec: DataSpec) -> tuple[SampleTable, list[list[str]]]:
    """Read the source, attach groups, find byte-identical images (keeping one of each with ``--dedupe``).

    Returns:
        The sample table (``split`` set where the source gives one, empty otherwise) and the sets of identical
        images still in it.
    """
    table = source_of(spec.data).load(spec)
    if spec.group_pattern:
        table = groups_from_pattern(table, spec.group_pattern)
    elif spec.groups:
        table = attach_groups(table, spec.groups)
    if table.stream:  # found when the stream was written; its images are no files to compare
        duplicates = read_table(table.stream).duplicates
    else:
        duplicates = find_duplicates(table.root, table.samples["path"])
    if spec.dedupe and duplicates:
        return drop_duplicates(table, duplicates), []
    return table, duplicates


for _module in pkgutil.iter_modules(__path__):  # the sources written as one file each in this package
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["SOURCES", "DataSpec", "Source", "image_root", "load_samples", "register_source", "source_of"]
