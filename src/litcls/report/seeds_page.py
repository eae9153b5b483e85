"""report.html of a repeated-seed run: mean ± std per metric and one row per seed, linking each seed's report.

Built from ``seeds_results.json``/``.csv`` (:func:`litcls.runs.seeds.aggregate_seeds`) and the run's ``config.yaml``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import yaml

from litcls.report.cv_page import _spread
from litcls.report.html import configuration_section, file_links, html_document, table


def build_seeds_page(run_dir: Path) -> str:
    run_dir = Path(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    results = json.loads((run_dir / "seeds_results.json").read_text(encoding="utf-8"))
    finished = results["finished_seeds"]
    split = "a split per seed" if config.get("resplit_per_seed") else f"the split of --seed {config.get('seed')}"
    body = [f"<h1>{html.escape(run_dir.name)}</h1>",
            f'<p class="meta"><b>{html.escape(str(config.get("model", "?")))}</b> on '
            f'<b>{html.escape(str(config.get("data", "?")))}</b>, trained with seeds '
            f'{", ".join(map(str, finished))} on {html.escape(split)}. '
            + file_links(run_dir, ("seeds_results.json", "seeds_results.csv", "config.yaml")) + "</p>"]
    metrics = results["metrics"]
    rows = [(name, _spread(entry), ", ".join("" if value is None else f"{value:.4f}" for value in entry["per_seed"]))
            for name, entry in metrics.items() if "/" in name]
    per_seed = pd.read_csv(run_dir / "seeds_results.csv", dtype={"seed": str})
    per_seed["report"] = [f'<a href="seed_{seed}/report.html">seed_{seed}/report.html</a>'
                          if (run_dir / f"seed_{seed}" / "report.html").is_file() else "" for seed in per_seed["seed"]]
    body += [f"<h2>Mean ± std over {len(finished)} seed(s)</h2>", f"<p>{html.escape(results['std'])}.</p>",
             table(pd.DataFrame(rows, columns=["metric", "mean ± std", "per seed"])), "<h2>Per seed</h2>",
             per_seed.to_html(index=False, border=0, float_format=lambda value: f"{value:.4f}", na_rep="",
                              escape=False)]
    return html_document(run_dir.name, body + configuration_section(config))


def write_seeds_report(run_dir: Path) -> Path:
    page = Path(run_dir) / "report.html"
    page.write_text(build_seeds_page(run_dir), encoding="utf-8")
    return page
