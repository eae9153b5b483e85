"""Benchmark: what each ``--tta`` policy costs (seconds) and gains (accuracy, log-loss) on a run's test images, for
one member and for the ensemble of a k-fold or seeds run.

    python train.py --img-size 16 --epochs 3 --folds 5 --name digits-cv5
    PYTHONPATH=src python bench/tta_policies.py runs/digits-cv5

Predicts the run's test split (``splits.csv``) with ``predict.py``'s function, calibrated as predict.py calibrates
(the member's own temperature; the ensemble's from ``ensemble.json``), once per policy, after one warm-up call.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from litcls.inference.ensemble import load_ensemble
from litcls.inference.predictor import predict_images
from litcls.inference.tta import POLICIES
from litcls.runs.finished_folder import data_root


def test_images(run_dir: Path) -> tuple[list[Path], list[int]]:
    root = data_root(run_dir)
    splits = pd.read_csv(run_dir / "splits.csv", keep_default_na=False, dtype={"path": str})
    test = splits[splits["split"] == "test"]
    return [root / path for path in test["path"]], test["label"].astype(int).tolist()


def measure(model, ensemble, paths, labels) -> list[dict]:
    predict_images(model, paths[:8], ensemble=ensemble)  # warm-up: imports, first allocations
    rows = []
    for policy in POLICIES:
        start = time.perf_counter()
        table = predict_images(model, paths, tta=policy, labels=labels, ensemble=ensemble, batch_size=64)
        seconds = time.perf_counter() - start
        rows.append({"policy": policy, "seconds": round(seconds, 2), "accuracy": round(table["correct"].mean(), 4),
                     "log_loss": round(table["loss"].mean(), 4), "wrong": int((~table["correct"]).sum())})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args()
    paths, labels = test_images(args.run_dir)
    members, ensemble = load_ensemble([args.run_dir])
    for name, model in (("one member (" + str(args.run_dir.name) + " member 0)", members[0]),
                        (f"ensemble of {len(members)}", members)):
        table = pd.DataFrame(measure(model, ensemble if model is members else None, paths, labels))
        print(f"\n{name}, {len(paths)} test images")
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
