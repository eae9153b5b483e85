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
.table { overflow-x: auto; max-width: 100%; }
.summary { background: #f4f8fb; border: 1px solid #d8e4ee; border-radius: 4px; padding: .6rem 1rem; }
.summary p { margin: .3rem 0; font-size: 1.05rem; line-height: 1.45; } .summary ul { margin: .4rem 0; }
.summary li { color: #8a4b00; }
"""
DECIMALS = 4  # enough to tell runs apart, few enough to read


def image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def numbers_as_numbers(frame: pd.DataFrame, text: tuple[str, ...] = ("class", "value", "key")) -> pd.DataFrame:
    """Columns of numbers read as text (a CSV read with ``keep_default_na=False``, whose empty cells keep the
    column text) back to numbers, so they are rounded like the others; the columns named in ``text`` (class names
    such as "1") and columns with any non-number stay as they are."""
    frame = frame.copy()
    for column in frame.columns:
        if column in text or not (pd.api.types.is_object_dtype(frame[column])
                                  or pd.api.types.is_string_dtype(frame[column])):
            continue
        cells = frame[column].replace("", None)
        numbers = pd.to_numeric(cells, errors="coerce")
        if numbers.notna().sum() == cells.notna().sum() and cells.notna().any():
            whole = numbers.dropna().eq(numbers.dropna().round()).all() and cells.dropna().map(
                lambda cell: isinstance(cell, int) or str(cell).lstrip("-").isdigit()).all()
            frame[column] = numbers.astype("Int64") if whole else numbers
    return frame


def table(frame: pd.DataFrame) -> str:
    """A table with numbers rounded to :data:`DECIMALS`, scrolling sideways inside its box when wider than the
    page."""
    rendered = numbers_as_numbers(frame).to_html(index=False, border=0, na_rep="",
                                                 float_format=lambda value: f"{value:.{DECIMALS}f}")
    return f'<div class="table">{rendered}</div>'


def _sentence(text: str) -> str:
    """A note as results.json keeps it (lower case, no full stop) as a sentence."""
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "?", "!")) else ".")


def summary_section(summary: object) -> list[str]:
    """The plain-words summary (a :class:`~litcls.report.in_words.Summary`) at the top of a page."""
    paragraphs = [f"<p>{html.escape(sentence)}</p>" for sentence in summary.sentences]
    warnings = [f"<li>{html.escape(_sentence(warning))}</li>" for warning in summary.warnings]
    return ['<section class="summary">', *paragraphs, *(["<ul>", *warnings, "</ul>"] if warnings else []),
            "</section>"]


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
