"""Command line <-> TrainConfig. Heavy libraries are imported only after parsing."""

from __future__ import annotations

import argparse
import fnmatch
import typing
from collections.abc import Sequence
from pathlib import Path

import yaml

from litcls.cli.exit_codes import one_line_errors
from litcls.config import TrainConfig, config_fields, field_type, item_type, load_yaml, resolve
from litcls.data.source_paths import check_source_paths, is_manifest
from litcls.errors import UserError
from litcls.model_names import check_model_name
from litcls.quiet import one_line_warnings


class OneLineErrors(argparse.ArgumentParser):
    """An argument parser whose mistakes print one line (not the whole usage) and exit with code 2."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"error: {message} (python {self.prog} --help lists the flags)\n")


def build_parser() -> argparse.ArgumentParser:
    """One flag per config field; defaults are suppressed so that only flags given on the line override."""
    parser = OneLineErrors(
        prog="train.py",
        description="Train an image classifier on a folder of images (default: the embedded digits).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Precedence: defaults < --config FILE < flags. Example:\n"
               "  python train.py --data data/pets --model cnn --img-size 64 --epochs 20",
    )
    parser.add_argument("--config", metavar="FILE", help="YAML file of settings (a run's config.yaml works)")
    parser.add_argument("--resume", metavar="RUN", help="continue an interrupted run: its folder (runs/<name>) or a "
                        "checkpoint in it; with its saved settings and split (only --epochs, --num-workers, --progress "
                        "and the hardware flags may change)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--list-models", nargs="?", const="*", metavar="PATTERN",
                        help="list the registered models (matching PATTERN, e.g. 'resnet*') and exit; "
                        "'timm/convnext*' lists timm's models that match")
    parser.add_argument("--aggregate", metavar="RUN_DIR", help="combine the finished fold_<i> folders of a "
                        "cross-validation run into its cv_results.json/.csv and out-of-fold files (or the seed_<s> "
                        "folders of a --seeds run into seeds_results.json/.csv), and exit")
    groups: dict[str, argparse._ArgumentGroup] = {}
    defaults = TrainConfig().to_dict()
    for f in config_fields():
        group_name = f.metadata["group"]
        if group_name not in groups:
            groups[group_name] = parser.add_argument_group(group_name)
        flag = "--" + f.name.replace("_", "-")
        default = defaults[f.name]
        help_text = f.metadata["help"] + ("" if default is None else f" (default: {default})")
        kwargs: dict = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        if f.metadata["choices"]:  # checked by the part's validate(), which names the closest valid value
            kwargs["metavar"] = "{" + ",".join(f.metadata["choices"]) + "}"
        if f.name == "callbacks":  # repeatable as well as several after one flag
            kwargs["action"] = "extend"
        kind = field_type(f)
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif kind is list:
            kwargs["nargs"] = "+"
            kwargs["type"] = item_type(f)
        else:
            kwargs["type"] = kind
        groups[group_name].add_argument(flag, **kwargs)
    return parser


def parse_config(argv: Sequence[str] | None = None) -> tuple[TrainConfig, argparse.Namespace]:
    """Parse flags and merge them over the optional config file."""
    args = build_parser().parse_args(argv)
    file_values = load_yaml(args.config) if args.config else {}
    return resolve(file_values, flag_values(args)), args


def flag_values(args: argparse.Namespace) -> dict:
    """The config fields given as flags on the command line (defaults are suppressed)."""
    field_names = {f.name for f in config_fields()}
    return {key: value for key, value in vars(args).items() if key in field_names}


def resume_from_flags(args: argparse.Namespace) -> int:
    from litcls.runs.resume import cross_validation_config, cross_validation_run, prepare_resume, resume

    if args.config:
        raise UserError("--resume and --config: a resumed run keeps its own config.yaml; drop --config")
    if args.print_config:
        folds_dir = cross_validation_run(args.resume)
        print_config(cross_validation_config(folds_dir, flag_values(args)) if folds_dir
                     else prepare_resume(args.resume, flag_values(args))[2])
        return 0
    resume(args.resume, flag_values(args))
    return 0


def print_config(config: TrainConfig) -> None:
    print(yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True), end="")


def print_models(pattern: str = "*") -> None:
    """``--list-models [PATTERN]``: the registered models, or timm's for ``timm/<pattern>``."""
    if pattern.startswith("timm/"):
        from litcls.models.timm_models import list_timm_models

        rows = [(name, f"{parameters:,}", f"{size} px", tags, "") for name, parameters, size, tags
                in list_timm_models(pattern.removeprefix("timm/"))]
        if not rows:
            raise UserError(f"--list-models {pattern}: no timm model matches (patterns use * and ?, e.g. "
                            "'timm/convnext*')")
    else:
        from litcls.models import list_models

        rows = [(spec.name, f"{spec.num_parameters():,}", f"{spec.input_size} px", spec.pretrained_name or "-",
                 spec.description) for spec in list_models() if fnmatch.fnmatch(spec.name, pattern)]
    header = ("model", "parameters (10 classes)", "suits", "--pretrained", "description")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[4])


def aggregate_run(run_dir: str) -> None:
    """``--aggregate``: a repeated-seed run's seeds (its config.yaml lists seeds), else a k-fold run's folds."""
    config_file = Path(run_dir) / "config.yaml"
    if config_file.is_file() and (yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}).get("seeds"):
        from litcls.runs.seeds import aggregate_seeds

        aggregate_seeds(run_dir)
    else:
        from litcls.runs.crossval import aggregate

        aggregate(run_dir)


def check_data_paths(data: str, image_root: str | None) -> None:
    """``--data`` and ``--image-root`` checked in milliseconds, before torch and Lightning load; only a name that
    is neither a folder nor built in costs the import of the source registry, where a user's source may be."""
    try:
        check_source_paths(data, image_root)
    except UserError:
        if len(Path(data).parts) != 1:  # a path, not a name
            raise
        from litcls.data.sources import SOURCES

        if data not in SOURCES:
            raise


def check_multi_label_manifest(config: TrainConfig) -> None:
    """A multi-label manifest's label cells checked before torch and Lightning load (pandas only)."""
    data = config.data
    if data.multi_label and is_manifest(data.source):
        from litcls.data.label_sets import LabelForm
        from litcls.data.manifest import check_labels

        check_labels(data.source, LabelForm(data.label_col, data.label_sep, data.negative_label, data.label_cols,
                                            data.uncertain, data.missing))


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``train.py``; returns the process exit code."""
    one_line_warnings()
    args = build_parser().parse_args(argv)
    if args.list_models is not None:
        print_models(args.list_models)
        return 0
    if args.resume:
        return resume_from_flags(args)
    config = resolve(load_yaml(args.config) if args.config else {}, flag_values(args))
    if args.print_config:
        print_config(config)
        return 0
    if args.aggregate:
        aggregate_run(args.aggregate)
        return 0
    check_data_paths(config.data.source, config.data.image_root)
    check_multi_label_manifest(config)
    check_model_name(config.model.name)
    from litcls.runs.dispatch import train

    train(config)
    return 0
