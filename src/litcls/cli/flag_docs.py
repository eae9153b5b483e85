"""The flag reference, ``docs/flags.md``, written from the argument parsers themselves.

``train.py``'s parser is built from the configuration's field metadata (help, group, choices, default), so a page
generated from the parsers cannot drift from ``--help``; ``tests/test_flag_docs.py`` fails when the committed page
is stale. Regenerate it with::

    PYTHONPATH=src python -m litcls.cli.flag_docs > docs/flags.md
"""

from __future__ import annotations

import argparse
import re
import sys

from litcls.cli import demo, predict, stream, train

COMMAND = "PYTHONPATH=src python -m litcls.cli.flag_docs > docs/flags.md"
SCRIPTS = (("train.py", train.build_parser), ("predict.py", predict.build_parser), ("demo.py", demo.build_parser),
           ("python -m litcls.stream", stream.build_parser))
TRAILING_DEFAULT = re.compile(r" \(default: (?P<default>.*)\)$")
CHOICES_METAVAR = re.compile(r"^\{(?P<choices>.*)\}$")
VALUE_NAMES = {int: "integer", float: "number"}


def cell(text: str) -> str:
    """Plain text safe inside a GitHub table cell: pipes escaped, angle brackets kept visible, no emphasis."""
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
            .replace("*", "\\*"))


def split_default(action: argparse.Action, help_text: str) -> tuple[str, str]:
    """The help without its ``(default: ...)`` suffix, and the default it names (or the parser's own default)."""
    match = TRAILING_DEFAULT.search(help_text)
    if match:
        return help_text[: match.start()], match["default"]
    if action.default in (None, argparse.SUPPRESS) or action.nargs == 0:
        return help_text, ""
    return help_text, str(action.default)


def default_cell(default: str) -> str:
    """A value as code (`0.15`, `['csv']`); a phrase (``the manifest's folder``) as text."""
    if not default:
        return ""
    return cell(default) if " " in default else "`" + default.replace("|", "\\|") + "`"


def choices(action: argparse.Action) -> list[str]:
    """Valid values: argparse's own choices, or those a config field lists in its metavar (checked by validate)."""
    if action.choices:
        return [str(choice) for choice in action.choices]
    match = CHOICES_METAVAR.match(action.metavar) if isinstance(action.metavar, str) else None
    return match["choices"].split(",") if match else []


def takes(action: argparse.Action) -> str:
    """What follows the flag: nothing for a switch, one of its choices, or a typed value (several with ``+``)."""
    if action.nargs == 0:
        if isinstance(action, argparse.BooleanOptionalAction):
            return f"switch (`{action.option_strings[-1]}` turns it off)"
        return "switch"
    valid = choices(action)
    if valid:
        value = "one of " + ", ".join(f"`{choice}`" for choice in valid)
    else:
        value = f"`{action.metavar or VALUE_NAMES.get(action.type, action.dest.upper())}`"
    return f"{value}, one or more" if action.nargs in ("+", "*") else value


def flag_rows(parser: argparse.ArgumentParser, yaml_keys: bool) -> list[str]:
    """One Markdown section per argument group, one table row per flag."""
    formatter = parser._get_formatter()
    lines = []
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
        if not actions:
            continue
        title = "general" if group.title in ("options", "optional arguments") else group.title
        lines += ["", f"### {title}", ""]
        config_group = yaml_keys and all(a.default is argparse.SUPPRESS for a in actions)
        header = ["flag", "YAML key", "takes", "default", "meaning"] if config_group else \
            ["flag", "takes", "default", "meaning"]
        lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        for action in actions:
            help_text, default = split_default(action, formatter._expand_help(action) if action.help else "")
            row = [", ".join(f"`{s}`" for s in action.option_strings)]
            if config_group:
                row.append(f"`{action.dest}`")
            row += [takes(action), default_cell(default), cell(help_text)]
            lines.append("| " + " | ".join(row) + " |")
    return lines


def flag_reference() -> str:
    """The whole page: every flag of ``train.py``, ``predict.py``, ``demo.py`` and ``python -m litcls.stream``,
    grouped as ``--help`` groups them."""
    lines = [
        "# Flag reference",
        "",
        "Every flag of `train.py`, `predict.py`, `demo.py` and `python -m litcls.stream`, grouped as `--help` groups",
        "them. This page is",
        "generated from the argument parsers (for `train.py`, from the configuration's field metadata); do not edit",
        f"it by hand: regenerate it with `{COMMAND}`.",
        "",
        "Every `train.py` flag below its general options is also a key of a YAML file passed with `--config`",
        "(`img_size` or `img-size`). Precedence: defaults < `--config FILE` < flags; `--print-config` shows the",
        "result, and a run's `config.yaml` is itself a valid `--config` file.",
    ]
    for script, build_parser in SCRIPTS:
        parser = build_parser()
        lines += ["", f"## {script}", "", parser.description or ""]
        lines += flag_rows(parser, yaml_keys=script == "train.py")
    return "\n".join(lines) + "\n"


def main() -> int:
    sys.stdout.write(flag_reference())
    return 0


if __name__ == "__main__":
    sys.exit(main())
