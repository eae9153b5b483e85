"""``python -m litcls.stream --data SOURCE --out DIR``: the command line of :mod:`litcls.data.stream.write`.

The source options are the data flags of ``train.py`` that say how to read the source (their help is the same
text); what they produce, the sample table after groups and ``--dedupe``, is what the stream stores. The split
options (``--seed``, ``--val-size``, ``--test-size``, ``--resplit-val``, train.py's defaults unless given) choose
the split the items are laid out for (see :mod:`litcls.data.stream.write`); any split trains from the stream.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from litcls.cli.exit_codes import one_line_errors
from litcls.cli.stream_writer import WriterProcess
from litcls.cli.train import OneLineErrors, check_data_paths
from litcls.data.settings import DataSettings
from litcls.data.sources.registry import DataSpec
from litcls.data.stream.location import is_stream
from litcls.data.stream.write import check_out
from litcls.errors import UserError

SOURCE_OPTIONS = [f.name for f in dataclasses.fields(DataSpec) if f.name != "data"]
LAYOUT_OPTIONS = ["seed", "val_size", "test_size", "resplit_val"]
LAYOUT_HELP = "(the split the stream is laid out for, which then streams fastest; any split trains from it) "
OWN_HELP = {"num_workers": "processes that check, then write, the images (0 or 1: one at a time)"}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrors(prog="-m litcls.stream", description="Write any --data source (folder, train/val/test "
                           "folder, manifest) as a LitData optimized dataset that train.py --data trains from.",
                           epilog="Example: python -m litcls.stream --data data/pets --out streams/pets, then "
                                  "python train.py --data streams/pets (or its copy in s3://bucket/pets)")
    settings = {f.name: f for f in dataclasses.fields(DataSettings)}
    parser.add_argument("--data", required=True, help="what to write, as train.py --data reads it: a folder of "
                        "class folders (or of train/val/test folders of them), a CSV or TSV manifest, or a built-in "
                        "dataset name")
    parser.add_argument("--out", required=True, type=Path, help="a new folder for the optimized dataset (copy it "
                        "to a bucket afterwards, e.g. aws s3 sync OUT s3://bucket/prefix)")
    for name in SOURCE_OPTIONS + LAYOUT_OPTIONS:
        kind = type(settings[name].default)
        kwargs = {"action": argparse.BooleanOptionalAction} if kind is bool else {"type": kind if kind in (int, float)
                                                                                   else str}
        prefix = LAYOUT_HELP if name in LAYOUT_OPTIONS else ""
        parser.add_argument("--" + name.replace("_", "-"), dest=name, default=settings[name].default,
                            help=prefix + OWN_HELP.get(name, settings[name].metadata["help"]), **kwargs)
    return parser


def layout_split(table, layout: dict):
    """The split of ``table`` the items are laid out for (``layout``: the values of :data:`LAYOUT_OPTIONS`), or None
    (with a note) where these settings cannot split it (train.py would say why, with the settings it is given)."""
    from litcls.data.splits import split_samples

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # train.py warns about the split it trains with
            return split_samples(table, layout["val_size"], layout["test_size"], layout["seed"],
                                 layout["resplit_val"])
    except UserError as err:
        print(f"note: the items are not laid out by a split ({err}); any split streams, as runs of items")
        return None


def write_laid_out(table, out: Path, source: str, duplicates: list[list[str]], layout: dict, workers: int) -> int:
    """Lay the table's items out for the split ``layout`` gives and write them; the number of images."""
    from litcls.data.stream.write import write_stream

    return write_stream(table, out, source, duplicates, layout_split(table, layout), workers)


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m litcls.stream``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    check_out(args.out)
    DataSettings(**{name: getattr(args, name) for name in LAYOUT_OPTIONS}).validate()  # the split flags' rules
    if is_stream(args.data):
        raise UserError(f"--data {args.data} is already a stream; train from it with python train.py --data "
                        f"{args.data}, or copy it")
    check_data_paths(args.data, args.image_root)
    started = time.perf_counter()
    with WriterProcess() as writer:  # it imports what writing needs while this process reads the source
        from litcls.data.sources import load_samples

        spec = DataSpec(data=args.data, **{name: getattr(args, name) for name in SOURCE_OPTIONS})
        table, duplicates = load_samples(spec)
        read = time.perf_counter() - started
        layout = {name: getattr(args, name) for name in LAYOUT_OPTIONS}
        images = writer.run(write_laid_out, table, args.out, args.data, duplicates, layout, args.num_workers)
    size = sum(file.stat().st_size for file in args.out.iterdir()) / 2**20
    kind = "labels (multi-label)" if table.multi_label else "classes"
    print(f"wrote {images} images of {len(table.classes)} {kind} to {args.out} ({size:.1f} MiB) in "
          f"{time.perf_counter() - started:.1f} s (reading the source {read:.1f} s); train with: python train.py "
          f"--data {args.out}")
    return 0
