"""The sample table: what a data source hands to splitting, the datamodule and the run folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class SampleTable:
    """The one sample table every data source (a folder, a manifest, a built-in dataset) produces.

    Attributes:
        root: the folder image paths are relative to.
        classes: class names, sorted; a sample's label is an index into this list.
        samples: one row per image with columns ``path`` (relative to root, '/'-separated), ``label``
            and ``split`` (``train``/``val``/``test`` for a pre-split folder, empty otherwise).
        skipped: ``(path, reason)`` of the image files left out (cannot be decoded, or missing).
        stream: where the images are when they are read from a LitData stream (``python -m litcls.stream``)
            rather than from files under ``root``: its folder or bucket URL.
    """

    root: Path
    classes: list[str]
    samples: pd.DataFrame
    skipped: tuple[tuple[str, str], ...] = ()
    stream: str | None = None

    @property
    def presplit(self) -> bool:
        return bool((self.samples["split"] != "").any())
