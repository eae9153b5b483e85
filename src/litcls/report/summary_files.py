"""The plain-words summaries (:mod:`litcls.report.in_words`) fed from a run folder's files, for the report pages.

Every file is optional: a summary says what the folder holds, so an unfinished or fast-dev-run folder still gets one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from litcls.report.in_words import Summary, summarize_repeats, summarize_run


def confusion_counts(path: Path) -> dict[str, dict[str, int]]:
    """``confusion_matrix.csv`` (rows true, columns predicted) as true class -> predicted class -> images; {} when
    the file is missing."""
    if not path.is_file():
        return {}
    counts = pd.read_csv(path, dtype=str, keep_default_na=False, index_col=0)
    return {true: {predicted: int(count) for predicted, count in row.items()} for true, row in counts.iterrows()}


def run_summary(run_dir: Path, results: dict, config: dict) -> Summary:
    """:func:`~litcls.report.in_words.summarize_run` on ``classes.json``, ``splits.csv``, ``confusion_matrix.csv``
    and the last epoch of ``metrics.csv``."""
    classes_path, splits_path = run_dir / "classes.json", run_dir / "splits.csv"
    classes = json.loads(classes_path.read_text(encoding="utf-8")) if classes_path.is_file() else []
    images = {}
    if splits_path.is_file():
        images = pd.read_csv(splits_path, usecols=["split"], dtype=str)["split"].value_counts().to_dict()
    last_epoch = None
    if (run_dir / "metrics.csv").is_file():
        epochs = pd.read_csv(run_dir / "metrics.csv")
        epochs = epochs.dropna(subset=[name for name in ("train/acc", "val/acc") if name in epochs])
        last_epoch = epochs.iloc[-1].to_dict() if len(epochs) else None
    return summarize_run(results, config, classes, images, confusion_counts(run_dir / "confusion_matrix.csv"),
                         last_epoch)


def members_summary(run_dir: Path, results: dict, config: dict, noun: str) -> Summary:
    """:func:`~litcls.report.in_words.summarize_repeats` for a k-fold (``noun="fold"``) or seeds run: the members
    whose ``results.json`` warns of a threshold on few images, and the out-of-fold confusion matrix."""
    few = []
    for member in results.get(f"finished_{noun}s", []):
        path = run_dir / f"{noun}_{member}" / "results.json"
        if path.is_file() and (json.loads(path.read_text(encoding="utf-8")).get("operating_point") or {}).get(
                "few_images"):
            few.append(path.parent.name)
    return summarize_repeats(results, config, noun, few, confusion_counts(run_dir / "oof_confusion_matrix.csv"))
