"""The docs name only flags that exist, and docs/flags.md is what the parsers generate today."""

from __future__ import annotations

import re

from conftest import REPO
from litcls.cli.flag_docs import COMMAND, SCRIPTS, flag_reference

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
# Flags of other programs that the docs quote in their commands: flag -> the program it belongs to.
OTHER_PROGRAMS = {
    "--standalone": "torchrun",
    "--nproc-per-node": "torchrun",
    "--array": "sbatch",
    "--poly-epsilon": "docs/examples/my_loss.py, whose loss registers the flag",
}


def documented_pages() -> list:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def known_flags() -> set[str]:
    return {option for _, build_parser in SCRIPTS for action in build_parser()._actions
            for option in action.option_strings}


def test_flag_reference_is_up_to_date():
    committed = (REPO / "docs" / "flags.md").read_text(encoding="utf-8")
    assert committed == flag_reference(), f"docs/flags.md is stale: regenerate it with `{COMMAND}`"


def test_flag_reference_lists_every_flag_of_every_script():
    page = (REPO / "docs" / "flags.md").read_text(encoding="utf-8")
    missing = {flag for flag in known_flags() - {"-h", "--help"} if f"`{flag}`" not in page}
    assert not missing


def test_every_flag_the_docs_mention_exists():
    known = known_flags() | set(OTHER_PROGRAMS)
    unknown = {f"{page.relative_to(REPO)}: {flag}" for page in documented_pages()
               for flag in FLAG.findall(page.read_text(encoding="utf-8")) if flag not in known}
    assert not unknown, "flags in the docs that no parser defines: " + ", ".join(sorted(unknown))


def test_the_mention_check_sees_a_wrong_flag():
    text = "run `python train.py --img-size 64 --imgsize 64` then predict.py --top-k 3"
    assert set(FLAG.findall(text)) - known_flags() == {"--imgsize"}
