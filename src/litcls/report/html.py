"""The HTML pieces both report pages (a run's, a k-fold run's) are made of: style, embedded images, tables."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans", "Malgun Gothic", sans-serif;
       margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
.meta { color: #666; } table { border-collapse: collapse; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; } tr:nth-child(even) { background: #f7f7f7; }
img { max-width: 100%; } .gallery { display: flex; flex-wrap: wrap; gap: .5rem; }
.gallery img { width: 280px; border: 1px solid #eee; } details { margin-top: 1rem; }
.curves img { width: 480px; } figure { margin: 0; width: 280px; } figcaption { font-size: .75rem; color: #555; }
"""


def image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, float_format=lambda value: f"{value:.4f}", na_rep="")


def link(run_dir: Path, name: str) -> str:
    return f'<a href="{html.escape(name)}">{html.escape(name)}</a>' if (run_dir / name).is_file() else ""


def file_links(run_dir: Path, names: tuple[str, ...]) -> str:
    """``Files: a b c``: links to those of ``names`` that exist in ``run_dir`` (a page's header line)."""
    return "Files: " + " ".join(filter(None, (link(run_dir, name) for name in names)))


def configuration_section(config: dict) -> list[str]:
    """The run's settings as a folded table (a run's and a k-fold run's page)."""
    rows = [(key, json.dumps(value, ensure_ascii=False) if isinstance(value, list) else str(value))
            for key, value in config.items()]
    return ["<details><summary>Configuration</summary>", table(pd.DataFrame(rows, columns=["key", "value"])),
            "</details>"]


def html_document(title: str, body: list[str]) -> str:
    """A self-contained page: the shared style, then ``body``."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
