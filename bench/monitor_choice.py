"""Which ``--monitor`` should be the default? Compare the test accuracy and macro F1 of the checkpoint each
candidate selects, on three small generated folders and the digits, over several seeds.

Runs are the real ``train.py`` at its defaults (``cnn``, 30 epochs, patience 5) plus ``--seed``; only evaluation
extras that cannot change the selected checkpoint or its test metrics are off (Grad-CAM, bootstrap intervals).
A run's trajectory does not depend on the monitor (training is deterministic and the default cosine schedule
does not read it), only where it stops and which epoch it keeps. So each dataset and seed is trained once, with
``--patience 0`` and :class:`epoch_test_metrics.EpochTestMetrics` recording every epoch's validation metrics and
test metrics, and each monitor's early stopping and best checkpoint are replayed on those curves exactly as
Lightning's ``EarlyStopping`` and ``ModelCheckpoint`` decide (strict improvement, the raised patience).
``--direct`` instead trains once per monitor, as a user would, which checks the replay (``--table --direct``
prints those runs). Runs go one at a time under ``nice`` so other work keeps priority; finished runs stay in
``ROOT/runs``, so a rerun resumes where it stopped. ``PYTHONPATH=src python bench/monitor_choice.py ROOT``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO  # noqa: E402
from epoch_test_metrics import replay  # noqa: E402
from student_folders import WRITERS  # noqa: E402

MONITORS = ("val/loss", "val/acc", "val/f1_macro")
DATASETS = ("shapes", "defects", "textures", "digits")
SPEED_FLAGS = ("--num-workers", "0", "--logger", "csv", "--progress", "none", "--gradcam-per-class", "0",
               "--gradcam-mistakes", "0", "--bootstrap", "0")
EPOCHS = 30  # train.py's default
RECORD = {"monitors": list(MONITORS), "patience": 5}  # the recording run stops once all of these would have
COUNTS = ("epochs_trained", "best_epoch")  # printed with one decimal, the metrics with three
COLUMNS = (("test/acc", "test accuracy"), ("test/f1_macro", "test macro F1"), ("epochs_trained", "epochs trained"),
           ("best_epoch", "best epoch"))


def dataset_path(root: Path, name: str) -> str:
    """The ``--data`` value: a generated folder (written once, from seed 0) or the built-in digits."""
    if name == "digits":
        return "digits"
    folder = root / "data" / name
    if not (folder / ".complete").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        WRITERS[name](folder, 0)
        (folder / ".complete").touch()
    return str(folder)


def run_name(dataset: str, seed: int, monitor: str | None = None) -> str:
    return f"{dataset}-{monitor.replace('/', '_')}-seed{seed}" if monitor else f"{dataset}-seed{seed}"


def train(root: Path, dataset: str, seed: int, flags: list[str], monitor: str | None = None) -> Path:
    """The run folder of ``train.py`` with ``flags``, trained first unless an earlier invocation finished it."""
    name = run_name(dataset, seed, monitor)
    run_dir = root / "runs" / name
    if not (run_dir / "results.json").is_file():
        shutil.rmtree(run_dir, ignore_errors=True)  # a run cut off half-way starts again
        command = ["nice", "-n", "15", sys.executable, str(REPO / "train.py"), "--data", dataset_path(root, dataset),
                   "--seed", str(seed), "--out-dir", str(root / "runs"), "--name", name, *SPEED_FLAGS, *flags]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "bench")]),
               "PYTHONUNBUFFERED": "1", "WANDB_MODE": "disabled",
               # one thread: on two shared cores a second one mostly waits for the first, at the others' cost
               "OMP_NUM_THREADS": "1"}
        started = time.perf_counter()
        log = root / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w", encoding="utf-8") as out:
            done = subprocess.run(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}); see {log}")
        print(f"{name}: {time.perf_counter() - started:.0f} s, load {os.getloadavg()[0]:.1f}", flush=True)
    return run_dir


def direct(run_dir: Path, monitor: str) -> dict:
    """What a run trained with ``--monitor monitor`` reports."""
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    return results | {"best_epoch": best_epoch(run_dir, monitor)}


def best_epoch(run_dir: Path, monitor: str) -> int:
    """The epoch (counted from 1) whose checkpoint a run selected: the first best value of ``monitor``."""
    curves = pd.read_csv(run_dir / "metrics.csv").dropna(subset=[monitor])
    best = curves[monitor].idxmin() if monitor == "val/loss" else curves[monitor].idxmax()
    return int(curves.loc[best, "epoch"]) + 1


def spread(values: list[float], digits: int) -> str:
    """``mean ± sample std`` (the std needs two values)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table(rows: dict[tuple[str, str], list[dict]], datasets: list[str], monitors: list[str]) -> str:
    """A Markdown table: per dataset and monitor, then the mean over datasets of each dataset's mean."""
    lines = ["| data | monitor | runs | " + " | ".join(title for _, title in COLUMNS) + " |",
             "| --- | --- | ---: | " + " | ".join("---:" for _ in COLUMNS) + " |"]
    for dataset in datasets:
        for monitor in monitors:
            found = rows.get((dataset, monitor), [])
            if found:
                cells = [spread([r[key] for r in found], 1 if key in COUNTS else 3) for key, _ in COLUMNS]
                lines.append(f"| {dataset} | `{monitor}` | {len(found)} | " + " | ".join(cells) + " |")
    for monitor in monitors:
        means = {key: [statistics.fmean(r[key] for r in rows[(d, monitor)]) for d in datasets if rows.get((d, monitor))]
                 for key, _ in COLUMNS}
        if means["test/acc"]:
            cells = [f"{statistics.fmean(v):.{1 if key in COUNTS else 3}f}" for key, v in means.items()]
            lines.append(f"| **mean of {len(means['test/acc'])} datasets** | `{monitor}` | | " + " | ".join(cells)
                         + " |")
    return "\n".join(lines)


def paired(rows: dict[tuple[str, str], list[dict]], monitors: list[str]) -> str:
    """Each monitor against the first, run by run (same dataset, seed and so split): the mean ± std of the
    differences and how many runs are better, equal and worse, which the spread between datasets does not blur."""
    lines = []
    for monitor in monitors[1:]:
        pairs = [(base, other) for (dataset, name), found in rows.items() if name == monitor
                 for other in found for base in rows.get((dataset, monitors[0]), []) if base["seed"] == other["seed"]]
        if not pairs:
            continue
        cells = []
        for key, title in COLUMNS[:2]:
            differences = [other[key] - base[key] for base, other in pairs]
            counts = [sum(d > 1e-9 for d in differences), sum(abs(d) <= 1e-9 for d in differences),
                      sum(d < -1e-9 for d in differences)]
            cells.append(f"{title} {spread(differences, 3)} (better {counts[0]}, equal "
                         f"{counts[1]}, worse {counts[2]})")
        lines.append(f"`{monitor}` minus `{monitors[0]}` over {len(pairs)} paired runs: " + "; ".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="folder for the generated data, the run folders and the logs")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--monitors", nargs="+", default=list(MONITORS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--direct", action="store_true", help="train once per monitor instead of replaying")
    parser.add_argument("--table", action="store_true", help="only print the table of the runs finished so far")
    args = parser.parse_args()
    root = args.root.resolve()
    rows: dict[tuple[str, str], list[dict]] = {}
    started = time.perf_counter()
    # the small folders first and seed by seed, so a partial bench already covers them; the digits (minutes a
    # run) last
    for seed, dataset in sorted(itertools.product(args.seeds, args.datasets), key=lambda run: run[1] == "digits"):
        for monitor in args.monitors:
            name = run_name(dataset, seed, monitor if args.direct else None)
            if args.table and not (root / "runs" / name / "results.json").is_file():
                continue
            if args.direct:
                run_dir = root / "runs" / name if args.table else train(
                    root, dataset, seed, ["--monitor", monitor], monitor)
                found = direct(run_dir, monitor)
            else:
                run_dir = root / "runs" / name if args.table else train(
                    root, dataset, seed, ["--patience", "0", "--callbacks",
                                                 f"epoch_test_metrics:EpochTestMetrics:{json.dumps(RECORD)}"])
                curves = pd.read_csv(run_dir / "epoch_test_metrics.csv")
                # training epochs only (before the callback skipped it, the final validation added a row)
                found = replay(curves[curves["epoch"] < EPOCHS], monitor)
                if not found.pop("stopped") and found["epochs_trained"] < EPOCHS:
                    raise RuntimeError(f"{run_dir}: the recording stopped before {monitor} would have")
            rows.setdefault((dataset, monitor), []).append(found | {"seed": seed})
    if not args.table:
        print(f"all runs: {time.perf_counter() - started:.0f} s")
    print(table(rows, args.datasets, args.monitors))
    print(paired(rows, args.monitors))


if __name__ == "__main__":
    main()
