"""What ``--ema`` and ``--mixup``/``--cutmix`` cost per epoch (issue 18 target: at most 5% each).

Two measurements in one process, on the same data (default: the digits with default settings):

* epoch wall time with and without each flag: the variants run interleaved, ``--reps`` times, and each run's
  epochs after the first are timed (validation included);
* the seconds spent inside the feature itself during those epochs -- the EMA callback's hooks (the average's
  update after every step, the swaps around validation) and the MixUp/CutMix call on each training batch -- as a
  share of the epoch. On a shared machine this share is the steadier figure: it does not depend on what else
  runs between two variants.

    PYTHONPATH=src python bench/recipe_cost.py --reps 3 --epochs 4 --out-dir /tmp/bench-runs
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict

import lightning as L
from callback_cost import EpochClock
from common import machine

import litcls.models.module
import litcls.runs.dispatch
import litcls.runs.trainer
from litcls.callbacks.ema import EMA
from litcls.cli.train import parse_config

VARIANTS = {"plain": [], "--ema 0.999": ["--ema", "0.999"], "--mixup 0.2": ["--mixup", "0.2"],
            "--cutmix 1.0": ["--cutmix", "1.0"]}
INSIDE: dict[str, float] = defaultdict(float)  # variant -> seconds inside the feature during timed epochs


def _timed(function, key: str, clock: EpochClock):
    def run(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            if len(clock.durations) >= 1:  # the first epoch is not timed
                INSIDE[key] += time.perf_counter() - started
    return run


def run_variant(name: str, argv: list[str], clock: EpochClock) -> list[float]:
    config, _ = parse_config(argv + VARIANTS[name])
    build_callbacks, build_mixing = litcls.runs.trainer.build_callbacks, litcls.models.module.build_mixing

    def with_clock(*args):
        callbacks = build_callbacks(*args)
        for callback in callbacks:
            if isinstance(callback, EMA):
                for hook in ("on_train_batch_end", "on_validation_epoch_start", "on_validation_epoch_end",
                             "on_train_epoch_end"):
                    setattr(callback, hook, _timed(getattr(callback, hook), name, clock))
        return [*callbacks, clock]

    def timed_mixing(*args):
        mixing = build_mixing(*args)
        return None if mixing is None else _timed(mixing, name, clock)

    litcls.runs.trainer.build_callbacks, litcls.models.module.build_mixing = with_clock, timed_mixing
    try:
        litcls.runs.dispatch.train(config)
    finally:
        litcls.runs.trainer.build_callbacks, litcls.models.module.build_mixing = build_callbacks, build_mixing
    return clock.durations[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--out-dir", default="/tmp/bench-runs")
    args, rest = parser.parse_known_args()
    argv = ["--epochs", str(args.epochs), "--patience", "0", "--logger", "none", "--bootstrap", "0",
            "--gradcam-per-class", "0", "--gradcam-mistakes", "0", "--progress", "none", "--out-dir", args.out_dir,
            *rest]
    epochs: dict[str, list[list[float]]] = defaultdict(list)  # variant -> per repetition, its timed epochs
    for rep in range(args.reps):
        for name in VARIANTS:
            epochs[name].append(run_variant(name, argv, EpochClock()))
            print(f"rep {rep} {name}: {statistics.median(epochs[name][-1]):.3f} s per epoch", file=sys.stderr)
    print(f"\n{machine()}; {args.reps} interleaved repetitions of {args.epochs} epochs, first epoch of each run "
          f"not timed; flags {' '.join(argv)}\n")
    print("| variant | epoch, median per repetition (s) | ratio to plain, per repetition | inside the feature per "
          "epoch (s) | share of its epochs |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, reps in epochs.items():
        medians = [statistics.median(durations) for durations in reps]
        ratios = [median / statistics.median(plain) for median, plain in zip(medians, epochs["plain"], strict=True)]
        timed = [duration for durations in reps for duration in durations]
        share = f"{100 * INSIDE[name] / sum(timed):.2f}%" if name != "plain" else ""
        print(f"| {name} | {', '.join(f'{m:.2f}' for m in medians)} | {', '.join(f'{r:.3f}' for r in ratios)} | "
              f"{INSIDE[name] / len(timed):.4f} | {share} |")


if __name__ == "__main__":
    L.seed_everything(0, verbose=False)
    main()
