"""Repeated seeds (``--seeds 0 1 2``): the same configuration trained once per seed, each a complete run in
``<run>/seed_<s>/``, then mean ± sample std over the seeds, as a paper reports it.

The seed sets the weight initialisation, the augmentation and the batch order; the split stays the one ``--seed``
draws (so the spread is the training's, not the split's), or is drawn anew per seed with ``--resplit-per-seed``.
Each ``seed_<s>/config.yaml`` holds ``seed: s`` and its ``splits.csv`` the split it used.

The run folder::

    config.yaml, classes.json                   the configuration with its seeds
    seed_<s>/ ...                               complete run folders (a W&B run each, grouped by the run name)
    seeds_results.json, seeds_results.csv       every metric per seed, its mean and sample std (ddof=1)
    report.html                                 mean ± std and the per-seed table, linking each seed's report
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from litcls.config import TrainConfig
from litcls.data.splits import split_samples
from litcls.errors import UserError
from litcls.processes import is_main_process
from litcls.report.seeds_page import write_seeds_report
from litcls.runs.ensemble import add_ensemble_row, summary_rows, write_ensemble
from litcls.runs.fit import fit_and_evaluate
from litcls.runs.members import member_dir, print_members_summary, std_note, summarize_members
from litcls.runs.new_folder import claim_run_dir
from litcls.runs.samples import check_leakage, load_data, warn_imbalance

STD = std_note("seed")


def seed_dir(run_dir: Path, seed: int) -> Path:
    return member_dir(run_dir, "seed", seed)


def repeat_seeds(config: TrainConfig) -> Path:
    """Train once per seed of ``--seeds``, then aggregate; returns the run folder that holds ``seed_<s>/``."""
    config, scan, duplicates = load_data(config)
    data = config.data
    splits = {seed: split_samples(scan, data.val_size, data.test_size,
                                  seed if config.repeats.resplit_per_seed else data.seed, data.resplit_val)
              for seed in config.repeats.seeds}
    for samples in splits.values():  # every split checked before the first seed trains
        check_leakage(samples, duplicates)
    warn_imbalance(config, splits[config.repeats.seeds[0]], scan.classes)
    run_dir = claim_run_dir(config)
    if is_main_process():
        config.save(run_dir / "config.yaml")
        (run_dir / "classes.json").write_text(json.dumps(scan.classes, ensure_ascii=False, indent=1),
                                              encoding="utf-8")
    for number, seed in enumerate(config.repeats.seeds, 1):
        target = seed_dir(run_dir, seed)
        if is_main_process():  # the other processes of a DDP run write and print nothing
            target.mkdir()
            print(f"\nseed {seed} ({number} of {len(config.repeats.seeds)})", flush=True)
        seed_config = config.replace(seed=seed, seeds=[], resplit_per_seed=False, name=run_dir.name,
                                     out_dir=str(run_dir.parent), group=config.output.group or run_dir.name)
        fit_and_evaluate(seed_config, scan, splits[seed], target, job_type=f"seed_{seed}")
    if is_main_process():
        aggregate_seeds(run_dir)
    return run_dir


def aggregate_seeds(run_dir: str | Path) -> dict:
    """Combine the finished ``seed_<s>/results.json`` of ``run_dir`` into ``seeds_results.json``/``.csv`` and
    ``report.html``; print the summary.

    Returns:
        The content of ``seeds_results.json``.
    """
    run_dir = Path(run_dir)
    seeds = [int(seed) for seed in (yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
                                    or {}).get("seeds") or []]
    finished = [seed for seed in seeds if (seed_dir(run_dir, seed) / "results.json").is_file()]
    if not finished:
        raise UserError(f"--aggregate: no seed of {run_dir} has finished (no seed_<s>/results.json)")
    results = {
        "seeds": seeds,
        "finished_seeds": finished,
        "missing_seeds": [seed for seed in seeds if seed not in finished],
        "std": STD,
        "metrics": summarize_members(run_dir, "seed", finished, "seeds_results"),
    }
    classes = json.loads((run_dir / "classes.json").read_text(encoding="utf-8"))
    results["ensemble"] = write_ensemble(run_dir, "seed", finished, classes)
    add_ensemble_row(run_dir, "seeds_results", "seed", results["ensemble"])
    (run_dir / "seeds_results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    write_seeds_report(run_dir)
    print_seeds_summary(run_dir, results)
    return results


def print_seeds_summary(run_dir: Path, results: dict) -> None:
    """Print mean ± std of the main metrics over the seeds, each seed's value, the total time and the run folder."""
    finished = results["finished_seeds"]
    title = f"seeds {' '.join(map(str, finished))}: mean ± std ({STD}), then per seed"
    print_members_summary(run_dir, title, results["metrics"], "seed", each=True,
                          extra=summary_rows(results.get("ensemble"), results["metrics"], "seed"))
