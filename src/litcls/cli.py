"""Command line <-> TrainConfig. Heavy libraries are imported only after parsing."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import yaml

from litcls.config import TrainConfig, config_fields, load_yaml, resolve
from litcls.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    """One flag per config field; defaults are suppressed so that only flags given on the line override."""
    parser = argparse.ArgumentParser(
        prog="train.py",
        description="Train an image classifier on a folder of images (default: the embedded digits).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Precedence: defaults < --config FILE < flags. Example:\n"
               "  python train.py --data data/pets --model cnn --img-size 64 --epochs 20",
    )
    parser.add_argument("--config", metavar="FILE", help="YAML file of settings (a run's config.yaml works)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--list-models", action="store_true", help="list the registered models and exit")
    parser.add_argument("--aggregate", metavar="RUN_DIR", help="combine the finished fold_<i> folders of a "
                        "cross-validation run into its cv_results.json/.csv and out-of-fold files, and exit")
    groups: dict[str, argparse._ArgumentGroup] = {}
    defaults = TrainConfig()
    for f in config_fields():
        group_name = f.metadata["group"]
        if group_name not in groups:
            groups[group_name] = parser.add_argument_group(group_name)
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        help_text = f"{f.metadata['help']} (default: {default})"
        kwargs: dict = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        if f.metadata["choices"]:
            kwargs["choices"] = f.metadata["choices"]
        if isinstance(default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif isinstance(default, list):
            kwargs["nargs"] = "+"
        elif default is not None:
            kwargs["type"] = type(default)
        groups[group_name].add_argument(flag, **kwargs)
    return parser


def parse_config(argv: Sequence[str] | None = None) -> tuple[TrainConfig, argparse.Namespace]:
    """Parse flags and merge them over the optional config file."""
    args = build_parser().parse_args(argv)
    field_names = {f.name for f in config_fields()}
    flag_values = {key: value for key, value in vars(args).items() if key in field_names}
    file_values = load_yaml(args.config) if args.config else {}
    return resolve(file_values, flag_values), args


def print_models() -> None:
    from litcls.models import list_models

    rows = [(spec.name, f"{spec.num_parameters():,}", f"{spec.input_size} px", spec.description)
            for spec in list_models()]
    header = ("model", "parameters (10 classes)", "suits", "description")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[3])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``train.py``; returns the process exit code."""
    try:
        config, args = parse_config(argv)
        if args.list_models:
            print_models()
            return 0
        if args.print_config:
            print(yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True), end="")
            return 0
        if args.aggregate:
            from litcls.crossval import aggregate

            aggregate(args.aggregate)
            return 0
        from litcls.run import train

        train(config)
        return 0
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
