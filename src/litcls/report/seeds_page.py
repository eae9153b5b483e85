"""report.html of a repeated-seed run: mean ± std per metric and one row per seed, linking each seed's report.

Built from ``seeds_results.json``/``.csv`` (:func:`litcls.runs.seeds.aggregate_seeds`) and the run's ``config.yaml``.
"""

from __future__ import annotations

import html
from pathlib import Path

from litcls.report.members_page import MembersPage, build_members_page, read_results, write_page


def build_seeds_page(run_dir: Path) -> str:
    """The HTML text of a repeated-seed run's report."""
    run_dir = Path(run_dir)
    config, results = read_results(run_dir, "seeds_results")
    split = "a split per seed" if config.get("resplit_per_seed") else f"the split of --seed {config.get('seed')}"
    meta = (f'<b>{html.escape(str(config.get("model", "?")))}</b> on <b>{html.escape(str(config.get("data", "?")))}'
            f'</b>, trained with seeds {", ".join(map(str, results["finished_seeds"]))} on {html.escape(split)}.')
    page = MembersPage("seed", "seeds_results", meta, ("seeds_results.json", "seeds_results.csv", "config.yaml"))
    return build_members_page(run_dir, config, results, page)


def write_seeds_report(run_dir: Path) -> Path:
    return write_page(run_dir, build_seeds_page(run_dir))
