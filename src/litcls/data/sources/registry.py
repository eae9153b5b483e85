"""The data-source registry: ``--data NAME`` -> a loader returning the sample table (timm's reader factory, as a
dict).

A loader takes the :class:`DataSpec` (``--data`` and its options) and returns a
:class:`~litcls.data.samples.SampleTable`; register it under a name with :func:`register_source`, in one file in
this package (found automatically)::

    @register_source("shapes")
    def shapes(spec: DataSpec) -> SampleTable:
        ...
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from litcls.data.label_sets import LabelForm
from litcls.data.samples import SampleTable
from litcls.errors import UserError


@dataclass(frozen=True)
class DataSpec:
    """Where the images are and how to read them (the data flags of ``train.py``)."""

    data: str
    path_col: str = "path"
    label_col: str = "label"
    label_sep: str | None = None
    negative_label: str | None = None
    label_cols: str | None = None
    uncertain: str = "ignore"
    missing: str = "negative"
    group_col: str | None = None
    split_col: str | None = None
    image_root: str | None = None
    group_pattern: str | None = None
    groups: str | None = None
    dedupe: bool = False
    num_workers: int = 0  # processes that check images the scan index has not seen

    @property
    def labels(self) -> LabelForm:
        """How the manifest gives its labels (one class, or several per image)."""
        return LabelForm(self.label_col, self.label_sep, self.negative_label, self.label_cols, self.uncertain,
                         self.missing)

    @property
    def multi_label(self) -> bool:
        return bool(self.label_sep or self.label_cols)

    @classmethod
    def of(cls, settings: object) -> DataSpec:
        """The spec of the run's data settings (:class:`~litcls.data.settings.DataSettings`; ``--data`` is their
        ``source``)."""
        return cls(data=settings.source, **{f.name: getattr(settings, f.name) for f in dataclasses.fields(cls)
                                            if f.name != "data"})


Loader = Callable[[DataSpec], SampleTable]


@dataclass(frozen=True)
class Source:
    """A loader, and optionally where its images are without reading the table (``--resume`` and the run-folder
    readers ask; without it the table is loaded for its root)."""

    load: Loader
    root: Callable[[DataSpec], Path] | None = None

    def image_root(self, spec: DataSpec) -> Path:
        return self.root(spec) if self.root else self.load(spec).root


SOURCES: dict[str, Source] = {}  # --data NAME -> its source; a folder or a manifest is found by its path instead


def register_source(name: str, root: Callable[[DataSpec], Path] | None = None) -> Callable[[Loader], Loader]:
    """Register the decorated loader as ``--data name``; a name already taken is refused.

    Args:
        name: what ``--data`` says; an existing folder of that name (relative to where ``train.py`` starts) is
            still read as a folder, as it is for the built-in datasets.
        root: ``spec -> the folder the table's paths are relative to``, when it is known without loading.
    """

    def register(load: Loader) -> Loader:
        if name in SOURCES:
            raise UserError(f"data source {name!r} is registered twice; rename one of them")
        SOURCES[name] = Source(load, root)
        return load

    return register
