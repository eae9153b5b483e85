"""Benchmark 3: start-up. Wall time of `train.py --help` and `--list-models`, and time to the first training step.

    python bench/startup.py --reps 5
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

from common import REPO, machine, median, run_timed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        run_timed([str(REPO / "train.py"), "--fast-dev-run", "--num-workers", "0"], cwd)  # writes the digits once
        for label, argv in (("--help", ["--help"]), ("--list-models", ["--list-models"])):
            results[f"train.py {label} s"] = round(median(
                [run_timed([str(REPO / "train.py"), *argv], cwd)[0] for _ in range(args.reps)]), 3)
        first_steps = []
        for _ in range(args.reps):
            started = time.time()
            _, out = run_timed([str(REPO / "bench" / "first_step.py")], cwd)
            stamp = re.search(r"first training step at ([0-9.]+)", out).group(1)
            first_steps.append(float(stamp) - started)
        results["time to first training step s"] = round(median(first_steps), 3)
    print(json.dumps({"machine": machine(), "reps": args.reps, **results}))


if __name__ == "__main__":
    main()
