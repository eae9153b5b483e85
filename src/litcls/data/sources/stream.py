"""``--data DIR`` (a folder ``python -m litcls.stream`` wrote) or ``--data s3://bucket/prefix`` (``gs://...``):
the sample table stored with the stream; the images are read from its chunks (:mod:`litcls.data.stream`)."""

from __future__ import annotations

from pathlib import Path

from litcls.data.samples import SampleTable
from litcls.data.sources.registry import DataSpec, register_source
from litcls.data.sources.shipped import MANIFEST_OPTIONS, MULTI_LABEL_OPTIONS
from litcls.data.stream.location import is_stream
from litcls.data.stream.table import read_table
from litcls.errors import UserError


@register_source("litdata", root=lambda spec: Path(spec.data), claims=is_stream)
def read_stream(spec: DataSpec) -> SampleTable:
    """The table as the source gave it when the stream was written (groups, given splits and metadata included);
    its manifest options (multi-label ones included) were applied then, so giving them again is a mistake."""
    defaults = DataSpec(spec.data)
    given = [f"--{name.replace('_', '-')}" for name in MANIFEST_OPTIONS + MULTI_LABEL_OPTIONS
             if getattr(spec, name) != getattr(defaults, name)]
    if given:
        raise UserError(f"{', '.join(given)}: {spec.data} is a stream, whose manifest options were applied when it "
                        "was written (python -m litcls.stream); drop them")
    return read_table(spec.data).table
