"""What the decision evaluation costs: seconds of one ordinary run spent on what issue 16 added, against the run's
wall time, both measured in the same run.

Runs ``train.py``'s training in this process (same flags, default: the digits with default settings) with the
added work timed where it happens:

* per epoch: the threshold-free validation metrics (AUROC, AP, ECE, top-5 accuracy: torchmetrics update and
  compute);
* after training: the extra ``trainer.validate`` of the best checkpoint (the validation predictions calibration
  and the threshold are fitted on), the temperature fit and calibration metrics, the threshold, the bootstrap,
  the per-class AUROC/AP of the report, ``roc.png``/``pr.png``/``reliability.png``, the predictions files and the
  checkpoint rewrite.

It prints one row per part and the total as a share of the run's wall time.

    PYTHONPATH=src python bench/evaluation_cost.py --out-dir /tmp/bench-runs --reps 3
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections import defaultdict

import lightning as L
from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError

import litcls.evaluation.writer as writer
import litcls.runs.dispatch
import litcls.runs.evaluate as final
from litcls.cli.train import parse_config
from litcls.evaluation.present_classes import PresentClassAUROC, PresentClassAveragePrecision

SECONDS: dict[str, float] = defaultdict(float)


def timed(part: str, function, when=lambda *args, **kwargs: True):
    @functools.wraps(function)
    def run(*args, **kwargs):
        if not when(*args, **kwargs):
            return function(*args, **kwargs)
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            SECONDS[part] += time.perf_counter() - started

    return run


def instrument() -> None:
    metrics = "per-epoch threshold-free val metrics (AUROC, AP, ECE, top-5)"
    for kind in (PresentClassAUROC, PresentClassAveragePrecision, MulticlassCalibrationError):
        for method in ("update", "compute"):
            setattr(kind, method, timed(metrics, getattr(kind, method)))
    for method in ("update", "compute"):  # top-5 accuracy only; the argmax accuracy was there before
        setattr(MulticlassAccuracy, method, timed(metrics, getattr(MulticlassAccuracy, method),
                                                  when=lambda self, *a, **k: self.top_k > 1))
    # the final validate: in evaluate_best, the only call of trainer.validate
    L.Trainer.validate = timed("final validate of the best checkpoint", L.Trainer.validate)
    for name, part in (("fit_temperature", "calibration (temperature fit, ECE/NLL before and after)"),
                       ("calibration_metrics", "calibration (temperature fit, ECE/NLL before and after)"),
                       ("choose_threshold", "operating threshold and its metrics"),
                       ("point_metrics", "operating threshold and its metrics"),
                       ("bootstrap_intervals", "bootstrap (1000 replicates)"),
                       ("plot_reliability", "roc.png, pr.png, reliability.png"),
                       ("prediction_table", "predictions.csv, val_predictions.csv"),
                       ("_store_decision", "best checkpoint rewritten with the decision"),
                       ("log_predictions", "W&B curves and predictions table")):
        setattr(final, name, timed(part, getattr(final, name)))
    writer.per_class_scores = timed("per-class AUROC/AP of the report", writer.per_class_scores)
    import litcls.report.figures as figures

    for name in ("plot_roc", "plot_precision_recall"):
        setattr(figures, name, timed("roc.png, pr.png, reliability.png", getattr(figures, name)))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1, help="runs, one after the other (default: 1)")
    args, train_argv = parser.parse_known_args(argv)
    instrument()
    rows = []
    for rep in range(args.reps):
        SECONDS.clear()
        config, _ = parse_config([*train_argv, "--name", f"evaluation-cost-{rep}"])
        started = time.perf_counter()
        litcls.runs.dispatch.train(config)
        wall = time.perf_counter() - started
        parts = dict(SECONDS)
        rows.append((wall, parts))
        print(f"\nrepetition {rep}: run {wall:.1f} s, added evaluation {sum(parts.values()):.2f} s "
              f"({100 * sum(parts.values()) / wall:.2f}%)")
    names = sorted({name for _, parts in rows for name in parts})
    print("\n| part | " + " | ".join(f"rep {rep} (s)" for rep in range(len(rows))) + " |")
    print("| --- |" + " ---: |" * len(rows))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{parts.get(name, 0):.2f}" for _, parts in rows) + " |")
    print("| **added, total** | " + " | ".join(f"**{sum(parts.values()):.2f}**" for _, parts in rows) + " |")
    print("| run wall time | " + " | ".join(f"{wall:.1f}" for wall, _ in rows) + " |")
    print("| **share of the run** | " + " | ".join(f"**{100 * sum(parts.values()) / wall:.2f}%**"
                                                   for wall, parts in rows) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
