"""Benchmark: how many deliberately flipped labels a k-fold run's ``label_issues.csv`` finds.

    PYTHONPATH=src python bench/label_issues.py make data/digits /tmp/digits_flipped    # ~6% of labels flipped
    python train.py --data /tmp/digits_flipped --folds 5 --test-size 0 --epochs 10 --name flipped
    PYTHONPATH=src python bench/label_issues.py score runs/flipped /tmp/digits_flipped.flipped.csv

``make`` copies a class folder and moves a seeded fraction of its images into another class's folder (a wrong
label the model was never told about); the moves are listed in ``<target>.flipped.csv``, outside the folder.
``score`` counts the listed images among the rows of ``label_issues.csv``: recall (flipped images found) and
precision (listed images that were flipped).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pandas as pd


def flip_labels(source: Path, target: Path, fraction: float = 0.06, seed: int = 0) -> pd.DataFrame:
    """Copy the class folder ``source`` to ``target`` with ``fraction`` of the images moved to a random other class.

    Returns:
        One row per moved image: ``path`` (relative to ``target``, as ``splits.csv`` writes it), ``true_class``,
        ``given_class``; also written to ``<target>.flipped.csv``.
    """
    if target.exists():
        raise SystemExit(f"{target} exists; remove it first")
    shutil.copytree(source, target)
    classes = sorted(p.name for p in target.iterdir() if p.is_dir())
    images = sorted(p for p in target.rglob("*") if p.is_file())
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(images), size=round(fraction * len(images)), replace=False)
    rows = []
    for index in sorted(picks):
        image = images[index]
        true_class = image.parent.name
        given = rng.choice([name for name in classes if name != true_class])
        moved = target / given / f"flipped_{true_class}_{image.name}"
        image.rename(moved)
        rows.append({"path": moved.relative_to(target).as_posix(), "true_class": true_class, "given_class": given})
    table = pd.DataFrame(rows)
    table.to_csv(target.with_name(target.name + ".flipped.csv"), index=False)
    return table


def score(run_dir: Path, flipped_csv: Path) -> dict:
    """Recall and precision of ``label_issues.csv`` against the images listed by :func:`flip_labels`."""
    issues = pd.read_csv(run_dir / "label_issues.csv", keep_default_na=False)
    flipped = set(pd.read_csv(flipped_csv)["path"])
    found = issues["path"].isin(flipped)
    return {"flipped": len(flipped), "listed": len(issues), "found": int(found.sum()),
            "recall": found.sum() / len(flipped), "precision": found.mean() if len(issues) else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make", help="copy a class folder with a fraction of its labels flipped")
    make.add_argument("source", type=Path)
    make.add_argument("target", type=Path)
    make.add_argument("--fraction", type=float, default=0.06)
    make.add_argument("--seed", type=int, default=0)
    scoring = commands.add_parser("score", help="recall and precision of a run's label_issues.csv")
    scoring.add_argument("run_dir", type=Path)
    scoring.add_argument("flipped_csv", type=Path)
    args = parser.parse_args()
    if args.command == "make":
        table = flip_labels(args.source, args.target, args.fraction, args.seed)
        print(f"{len(table)} labels flipped -> {args.target}; list: {args.target}.flipped.csv")
    else:
        result = score(args.run_dir, args.flipped_csv)
        print(f"{result['found']} of {result['flipped']} flipped images listed (recall {result['recall']:.3f}); "
              f"{result['listed']} rows, precision {result['precision']:.3f}")


if __name__ == "__main__":
    main()
