"""Benchmark: how near each label's prevalence per split stays to its overall prevalence, with patients kept whole.

    PYTHONPATH=src python bench/multilabel_splits.py [--seeds 10] [--patients 200]

Writes the ChestX-ray14-shaped and CheXpert-shaped manifests of ``tests/real_shaped_datasets.py`` to a temporary
folder, reads them as ``train.py`` does, and splits them (15 % val, 15 % test, by patient) with each of: the
shipped splitter (iterative stratification of the patients, best of ``GROUP_CANDIDATES`` seeded candidates), the
same with a single candidate, and a plain random split of the patients (scikit-learn's ``GroupShuffleSplit``).
For every seed it reports the largest gap, in points, between a label's prevalence in a split and over all
images, and the groups found in more than one split (must be 0).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

import litcls.data.multilabel_splits as multilabel_splits
from litcls.data.folds import placement
from litcls.data.multilabel_splits import label_prevalence
from litcls.data.samples import SampleTable
from litcls.data.sources import DataSpec, load_samples
from litcls.data.splits import split_samples

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from real_shaped_datasets import CHEXPERT_FINDINGS, write_chestxray14_manifest, write_chexpert_manifest  # noqa: E402


def random_group_split(table: SampleTable, seed: int) -> pd.DataFrame:
    """The baseline: 15 % of the patients to test, then 15/85 of the rest to val, at random."""
    samples = table.samples.assign(split="train")
    rest, test = next(GroupShuffleSplit(1, test_size=0.15, random_state=seed).split(samples, groups=samples["group"]))
    samples.iloc[test, samples.columns.get_loc("split")] = "test"
    pool = samples.iloc[rest]
    _, val = next(GroupShuffleSplit(1, test_size=0.15 / 0.85, random_state=seed).split(pool, groups=pool["group"]))
    samples.loc[pool.index[val], "split"] = "val"
    return samples


def measure(table: SampleTable, samples: pd.DataFrame) -> dict:
    prevalence = label_prevalence(samples, table.classes)
    gaps = prevalence.drop(columns="all").sub(prevalence["all"], axis=0).abs()
    straddling = int((placement(samples).groupby(samples["group"]).nunique() > 1).sum())
    return {"test gap": gaps["test"].max(), "val gap": gaps["val"].max(), "any gap": gaps.max().max(),
            "straddling": straddling, "test share": (samples["split"] == "test").mean()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--patients", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        cxr14 = write_chestxray14_manifest(root / "cxr14", patients=args.patients, size=16)
        chexpert = write_chexpert_manifest(root / "chexpert", patients=args.patients, size=16)
        specs = {"ChestX-ray14-shaped": DataSpec(str(cxr14), path_col="images/{Image Index}",
                                                 label_col="Finding Labels", label_sep="|",
                                                 negative_label="No Finding", group_col="Patient ID"),
                 "CheXpert-shaped": DataSpec(str(chexpert), path_col="Path", image_root=str(root / "chexpert"),
                                             label_cols=",".join(CHEXPERT_FINDINGS), group_pattern=r"patient(\d+)")}
        for name, spec in specs.items():
            table, _ = load_samples(spec)
            print(f"\n{name}: {len(table.samples)} images, {table.samples['group'].nunique()} patients; "
                  f"overall prevalence {label_prevalence(table.samples, table.classes)['all'].round(3).to_dict()}")
            shipped = multilabel_splits.GROUP_CANDIDATES
            for method in ("shipped", "one candidate", "random groups"):
                rows, started = [], time.perf_counter()
                for seed in range(args.seeds):
                    if method == "random groups":
                        samples = random_group_split(table, seed)
                    else:
                        multilabel_splits.GROUP_CANDIDATES = shipped if method == "shipped" else 1
                        samples = split_samples(table, 0.15, 0.15, seed)
                    rows.append(measure(table, samples))
                multilabel_splits.GROUP_CANDIDATES = shipped
                frame = pd.DataFrame(rows)
                print(f"  {method:14s} test gap max {100 * frame['test gap'].max():4.1f} points (median "
                      f"{100 * frame['test gap'].median():4.1f}), val gap max {100 * frame['val gap'].max():4.1f}, "
                      f"any split max {100 * frame['any gap'].max():4.1f}; test share "
                      f"{frame['test share'].min():.3f}-{frame['test share'].max():.3f}; groups straddling "
                      f"{int(frame['straddling'].sum())}; {(time.perf_counter() - started) / args.seeds:.2f} s/split")


if __name__ == "__main__":
    main()
