"""report.html of a run repeated over members (the folds of a k-fold run, the seeds of a ``--seeds`` run).

Both pages are one builder: the header, mean ± std per metric, one row per member linking the member's own
``<noun>_<n>/report.html``, then what only one kind has (``before``/``after``) and the configuration. Built from
``<stem>.json``/``.csv`` (written by :mod:`litcls.runs.members`) and the run's ``config.yaml``.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from litcls.report.html import configuration_section, file_links, html_document, summary_section, table
from litcls.report.summary_files import members_summary


@dataclass(frozen=True)
class MembersPage:
    """What differs between a k-fold run's page and a seeds run's page.

    Attributes:
        noun: ``fold`` or ``seed``: the member folders are ``<noun>_<n>/``, the JSON lists ``per_<noun>``.
        stem: ``cv_results`` or ``seeds_results``: the ``.json`` and ``.csv`` the page is built from.
        meta: the header's sentence (HTML), before the file links.
        files: the run folder's files linked in the header.
        note: said after the kind of standard deviation (HTML; ``.`` to end the sentence).
        before: sections between the header and the mean ± std.
        after: sections between the per-member table and the configuration.
    """

    noun: str
    stem: str
    meta: str
    files: tuple[str, ...]
    note: str = "."
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)


def read_results(run_dir: Path, stem: str) -> tuple[dict, dict]:
    """The run's configuration and the content of ``<stem>.json``."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    return config, json.loads((run_dir / f"{stem}.json").read_text(encoding="utf-8"))


def spread(entry: dict) -> str:
    """``mean ± std`` of one metric's entry, 4 decimals; ``mean`` alone for one member, '' when undefined."""
    mean, std = entry["mean"], entry["std"]
    if mean is None:
        return ""
    return f"{mean:.4f}" + ("" if std is None else f" ± {std:.4f}")


def per_member_table(run_dir: Path, page: MembersPage) -> str:
    """``<stem>.csv`` (a row per member, then mean and std) with a link to each member's report."""
    frame = pd.read_csv(run_dir / f"{page.stem}.csv", dtype={page.noun: str})
    frame["report"] = [f'<a href="{page.noun}_{n}/report.html">{page.noun}_{n}/report.html</a>'
                       if (run_dir / f"{page.noun}_{n}" / "report.html").is_file() else "" for n in frame[page.noun]]
    rendered = frame.to_html(index=False, border=0, float_format=lambda value: f"{value:.4f}", na_rep="", escape=False)
    return f'<div class="table">{rendered}</div>'  # a column per metric: wider than the page, it scrolls


def ensemble_section(ensemble: dict | None, metrics: dict, noun: str) -> list[str]:
    """The ensemble of the members (``ensemble.json``) on the held-out test split, beside the members' mean ± std."""
    if not ensemble:
        return []
    combine = ensemble["combine"][:1].upper() + ensemble["combine"][1:]
    body = ["<h2>Ensemble of the members</h2>",
            f"<p>{html.escape(combine)}. Temperature {ensemble['temperature']:.3f}"
            + (f", threshold {ensemble['threshold_calibrated']:.4g} on the calibrated probability of "
               f"{html.escape(ensemble['positive_class'])} ({html.escape(ensemble['threshold_rule'])})"
               if "threshold" in ensemble else "")
            + f", fitted on {html.escape(ensemble['fitted_on'])}; never on test. <code>predict.py --ckpt</code> "
              "with this run folder predicts with it (<code>ensemble.json</code>).</p>"]
    if not ensemble.get("test"):
        return body + [f"<p>{html.escape(ensemble.get('test_note', 'no held-out test split'))}.</p>"]
    rows = [(name, f"{value:.4f}", spread(metrics[name]) if name in metrics else "")
            for name, value in ensemble["test"].items() if "/" in name and value is not None]
    return body + [f"<p>On the {ensemble['test']['images']} held-out test images:</p>",
                   table(pd.DataFrame(rows, columns=["metric", "ensemble", f"mean ± std of the {noun}s"]))]


def build_members_page(run_dir: Path, config: dict, results: dict, page: MembersPage) -> str:
    """The HTML text of the report of a run over members."""
    finished = len(results[f"finished_{page.noun}s"])
    rows = [(name, spread(entry), ", ".join("" if value is None else f"{value:.4f}"
                                            for value in entry[f"per_{page.noun}"]))
            for name, entry in results["metrics"].items() if "/" in name]
    body = [f"<h1>{html.escape(run_dir.name)}</h1>",
            f'<p class="meta">{page.meta} ' + file_links(run_dir, page.files) + "</p>",
            *summary_section(members_summary(run_dir, results, config, page.noun)),
            *page.before,
            f"<h2>Mean ± std over {finished} {page.noun}(s)</h2>",
            f"<p>{html.escape(results['std'])}{page.note}</p>",
            table(pd.DataFrame(rows, columns=["metric", "mean ± std", f"per {page.noun}"])),
            *ensemble_section(results.get("ensemble"), results["metrics"], page.noun),
            f"<h2>Per {page.noun}</h2>", per_member_table(run_dir, page),
            *page.after]
    return html_document(run_dir.name, body + configuration_section(config))


def write_page(run_dir: Path, text: str) -> Path:
    page = Path(run_dir) / "report.html"
    page.write_text(text, encoding="utf-8")
    return page
