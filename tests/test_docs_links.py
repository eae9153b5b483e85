"""Every relative link in README.md, docs/ and bench/RESULTS.md leads to a file that exists, and to a heading in it."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import REPO

LINK = re.compile(r"\]\((?!https?://|mailto:)(?P<target>[^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (?P<title>.+)$", re.MULTILINE)
CODE_BLOCK = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = CODE_BLOCK.sub("", page.read_text(encoding="utf-8"))
    return {anchor(match["title"]) for match in HEADING.finditer(text)}


def pages() -> list[Path]:
    return [REPO / "README.md", REPO / "bench" / "RESULTS.md", *sorted((REPO / "docs").glob("*.md"))]


def broken_links(page: Path) -> list[str]:
    broken = []
    for match in LINK.finditer(CODE_BLOCK.sub("", page.read_text(encoding="utf-8"))):
        path, _, fragment = match["target"].partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{match['target']} (no such file)")
        elif fragment and target.suffix == ".md" and fragment not in anchors(target):
            broken.append(f"{match['target']} (no such heading)")
    return broken


def test_every_relative_link_resolves():
    broken = {f"{page.relative_to(REPO)}: {link}" for page in pages() for link in broken_links(page)}
    assert not broken, "broken links: " + "; ".join(sorted(broken))


def test_anchor_follows_github():
    assert anchor("Decisions: thresholds, calibration, uncertainty") == "decisions-thresholds-calibration-uncertainty"
    assert anchor("10. The default run: `python train.py`") == "10-the-default-run-python-trainpy"
    assert anchor("Weights & Biases") == "weights--biases"
