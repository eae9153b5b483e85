"""Benchmark 1: marginal seconds per epoch of train.py against the plain loop in bench/plain_loop.py.

Marginal time = (wall(E_long) - wall(E_short)) / (E_long - E_short): start-up, the test evaluation and
everything else that happens once cancel out, leaving the cost of an epoch (train + validation). The four
commands are interleaved in every repetition so that machine noise hits both sides alike; medians are reported.

    python bench/overhead.py --reps 5
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import REPO, machine, median, run_timed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--short", type=int, default=2)
    parser.add_argument("--long", type=int, default=6)
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--num-workers", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        common = ["--model", args.model, "--num-workers", str(args.num_workers)]
        run_timed([str(REPO / "bench" / "plain_loop.py"), "--epochs", "1", *common], cwd)  # writes the digits once
        marginal: dict[str, list[float]] = {"train.py": [], "plain loop": []}
        for rep in range(args.reps):
            walls = {}
            for side, script, extra in (
                ("train.py", REPO / "train.py", ["--augment", "none", "--patience", "0", "--out-dir", "runs"]),
                ("plain loop", REPO / "bench" / "plain_loop.py", []),
            ):
                for epochs in (args.short, args.long):
                    walls[side, epochs], _ = run_timed([str(script), "--epochs", str(epochs), *common, *extra], cwd)
            for side in marginal:
                marginal[side].append((walls[side, args.long] - walls[side, args.short]) / (args.long - args.short))
            print(f"rep {rep}: " + ", ".join(f"{side} {values[-1]:.3f} s/epoch" for side, values in marginal.items()),
                  flush=True)
    ours, floor = median(marginal["train.py"]), median(marginal["plain loop"])
    print(json.dumps({"machine": machine(), "model": args.model, "num_workers": args.num_workers,
                      "epochs": [args.short, args.long], "reps": args.reps,
                      "train.py s/epoch": round(ours, 3), "plain loop s/epoch": round(floor, 3),
                      "ratio": round(ours / floor, 3)}))


if __name__ == "__main__":
    main()
