"""What the evaluation callbacks cost: seconds per epoch inside their hooks, as a share of the epoch time.

Runs one ordinary training (same flags as train.py, default: the digits with default settings) with every
callback's hooks timed, and prints a table: per callback, the seconds its hooks take per training epoch
(fit), as a share of the mean epoch time, and the one-off seconds after training (test and report).

    PYTHONPATH=src python bench/callback_cost.py --epochs 5 --out-dir /tmp/bench-runs
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict

import lightning as L

import litcls.runs.dispatch
import litcls.runs.evaluate
import litcls.runs.trainer
from litcls.cli.train import parse_config

SECONDS: dict[tuple[str, str], float] = defaultdict(float)  # (callback, phase) -> seconds
HOOKS = [name for name in dir(L.Callback) if name.startswith("on_") or name in ("setup", "teardown")]


def _timed(callback: L.Callback, hook: str):
    original = getattr(callback, hook)

    def run(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            trainer = args[0] if args and isinstance(args[0], L.Trainer) else None
            phase = "fit" if trainer is not None and trainer.state.fn == "fit" else "after fit"
            SECONDS[type(callback).__name__, phase] += time.perf_counter() - started

    return run


class EpochClock(L.Callback):
    """Wall time of each training epoch, validation included (Lightning validates before the epoch ends)."""

    def __init__(self):
        self.durations: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module):
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        self.durations.append(time.perf_counter() - self._started)


def main(argv: list[str]) -> None:
    config, _ = parse_config(argv)
    clock = EpochClock()
    build_callbacks = litcls.runs.trainer.build_callbacks

    def timed_callbacks(*args):
        callbacks = build_callbacks(*args)
        for callback in callbacks:
            for hook in HOOKS:
                if getattr(type(callback), hook) is not getattr(L.Callback, hook):
                    setattr(callback, hook, _timed(callback, hook))
        return [*callbacks, clock]

    write_report = litcls.runs.evaluate.write_run_report

    def timed_report(run_dir):
        started = time.perf_counter()
        write_report(run_dir)
        SECONDS["report.html + curves.png", "after fit"] += time.perf_counter() - started

    litcls.runs.trainer.build_callbacks = timed_callbacks
    litcls.runs.evaluate.write_run_report = timed_report
    run_dir = litcls.runs.dispatch.train(config)

    epochs = len(clock.durations)
    epoch = sum(clock.durations[1:]) / max(1, epochs - 1) if epochs > 1 else clock.durations[0]
    names = sorted({name for name, _ in SECONDS})
    print(f"\nrun {run_dir}: {epochs} epochs, mean epoch {epoch:.2f} s (first epoch excluded)\n")
    print("| callback | per epoch (s) | share of epoch | once after fit (s) |")
    print("| --- | --- | --- | --- |")
    for name in names:
        per_epoch = SECONDS[name, "fit"] / max(1, epochs)
        print(f"| {name} | {per_epoch:.4f} | {100 * per_epoch / epoch:.2f}% | {SECONDS[name, 'after fit']:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
