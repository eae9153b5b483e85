"""Stratified train/val/test splits of a sample table, reproducible from the seed alone.

The table is sorted by path before splitting and scikit-learn's splitter is seeded, so the same folder
and seed give the same split on any machine.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from litcls.data.folds import placement
from litcls.data.groups import stratified_group_holdout
from litcls.data.label_sets import positives_text
from litcls.data.multilabel_splits import check_split_positives, label_prevalence, multilabel_holdout
from litcls.data.samples import SampleTable
from litcls.data.scan import sort_by_path
from litcls.errors import UserError

SPLITS = ("train", "val", "test")
MIN_VAL_PER_CLASS = 10


def _stratified_holdout(frame: pd.DataFrame, size: float, seed: int, classes: list[str],
                        what: str, multi_label: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``frame`` into (rest, held-out) with ``size`` of every class held out (whole groups with --groups);
    a multi-label table keeps every label's prevalence (:mod:`litcls.data.multilabel_splits`)."""
    if multi_label:
        return multilabel_holdout(frame, size, seed, classes, what)
    if "group" in frame:
        return stratified_group_holdout(frame, size, seed, classes, what)
    counts = frame["label"].value_counts()
    too_small = [classes[label] for label, count in counts.items() if count < 2]
    if too_small:
        raise UserError(f"cannot hold out a stratified {what} split: class(es) {', '.join(sorted(too_small))} "
                        "have a single image; add images or remove the class")
    try:
        rest, held = train_test_split(frame, test_size=size, stratify=frame["label"], random_state=seed)
    except ValueError as err:
        raise UserError(f"cannot hold out a stratified {what} split of {size} from {len(frame)} images in "
                        f"{len(counts)} classes ({err}); use a larger --{what}-size or add images") from None
    return rest, held


def _check_class_sizes(samples: pd.DataFrame, classes: list[str], test_size: float) -> None:
    """Every class needs an image in train and val (and test): refuse before sklearn fails less clearly."""
    needed = 3 if test_size > 0 else 2
    counts = samples["label"].value_counts().sort_index()
    small = [f"{classes[label]} ({count})" for label, count in counts.items() if count < needed]
    if small:
        splits = "train, val and test" if test_size > 0 else "train and val"
        hint = " or use --test-size 0" if test_size > 0 and counts.min() >= 2 else ""
        raise UserError(f"too few images to split class(es) {', '.join(small)}: each class needs at least "
                        f"{needed} images, one for each of {splits}; add images, remove the class{hint}")


def split_samples(scan: SampleTable, val_size: float, test_size: float, seed: int,
                  resplit_val: bool = False) -> pd.DataFrame:
    """Return the sample table with ``split`` set to train/val/test for every row.

    A source that gives splits (a pre-split folder, a manifest's ``--split-col``) keeps them; only a missing
    validation split is carved, stratified, from the training images. ``resplit_val`` does that even when a
    validation split is given (its images join training first) and records every row's given split in a
    ``given_split`` column. Otherwise ``test_size`` of every class goes to test, then ``val_size`` (of the whole)
    to val. A multi-label table must keep a positive of every label in training (else UserError) and warns of a
    label without positives in val or test.
    """
    samples = _split(scan, val_size, test_size, seed, resplit_val)
    if scan.multi_label:
        check_split_positives(samples, scan.classes)
    return samples


def _split(scan: SampleTable, val_size: float, test_size: float, seed: int, resplit_val: bool) -> pd.DataFrame:
    samples = sort_by_path(scan.samples)
    multi = scan.multi_label
    if scan.presplit:
        if resplit_val:
            samples["given_split"] = samples["split"]
            samples.loc[samples["split"] == "val", "split"] = "train"
        elif (samples["split"] == "val").any():
            if not multi:
                warn_small_given_val(samples, scan.classes)
            return samples
        train = samples[samples["split"] == "train"]
        _, val = _stratified_holdout(train, val_size, seed, scan.classes, "val", multi)
        samples.loc[val.index, "split"] = "val"
        return samples
    if resplit_val:
        raise UserError("--resplit-val: the data gives no validation split to replace (no val/ folder, no "
                        "--split-col); without it, validation is carved from the training images already")
    if not multi:
        _check_class_sizes(samples, scan.classes, test_size)
    samples["split"] = "train"
    pool = samples
    if test_size > 0:
        pool, test = _stratified_holdout(samples, test_size, seed, scan.classes, "test", multi)
        samples.loc[test.index, "split"] = "test"
    _, val = _stratified_holdout(pool, val_size / (1 - test_size), seed, scan.classes, "val", multi)
    samples.loc[val.index, "split"] = "val"
    return samples


def warn_small_given_val(samples: pd.DataFrame, classes: list[str]) -> None:
    """Warn when a given validation split is too small to select a checkpoint on (under ``MIN_VAL_PER_CLASS``
    images of some class): one lucky image then decides early stopping and the best epoch."""
    counts = samples.loc[samples["split"] == "val", "label"].value_counts().reindex(range(len(classes)), fill_value=0)
    if counts.min() < MIN_VAL_PER_CLASS:
        per_class = ", ".join(f"{classes[label]} {count}" for label, count in counts.items())
        warnings.warn(f"the given validation split holds {int(counts.sum())} images ({per_class}), fewer than "
                      f"{MIN_VAL_PER_CLASS} of some class: too few to choose the best epoch on. --resplit-val "
                      "carves validation from the training images instead", stacklevel=3)


def test_rows(samples: pd.DataFrame, scan: SampleTable, test_size: float, seed: int) -> pd.Index:
    """The rows of ``samples`` (sorted by path) held out for test: a pre-split folder's ``test/``, otherwise
    ``test_size`` of every class. A single run and every fold of a k-fold run hold out the same images."""
    if scan.presplit:
        return samples.index[samples["split"] == "test"]
    if test_size > 0:
        return _stratified_holdout(samples, test_size, seed, scan.classes, "test", scan.multi_label)[1].index
    return samples.index[:0]


def write_splits(samples: pd.DataFrame, classes: list[str], path: Path) -> None:
    """Write ``splits.csv``: path, label, class, split[, fold][, group][, given_split], then the source's
    metadata columns (UTF-8, one row per image). A multi-label table's class is its positive labels joined by
    ``|``, and its target columns (1, 0, blank where ignored) follow the splits."""
    if (samples["label"] < 0).any():
        table = samples.assign(**{"class": positives_text(samples, classes)})
    else:
        table = samples.assign(**{"class": [classes[label] for label in samples["label"]]})
    columns = ["path", "label", "class", "split"]
    columns += [name for name in ("fold", "group", "given_split") if name in samples]
    table[columns + [name for name in samples.columns if name not in columns]].to_csv(path, index=False,
                                                                                      encoding="utf-8")


def write_label_prevalence(samples: pd.DataFrame, classes: list[str], path: Path) -> pd.DataFrame:
    """Write ``label_prevalence.csv`` beside ``splits.csv`` for a multi-label table: a row per label, its share of
    positive images (ignored cells left out) over all images and in each split (each pool fold in k-fold), and
    print it. Returns the table."""
    table = label_prevalence(samples, classes, placement(samples))
    table.round(4).to_csv(path, encoding="utf-8")
    print(f"label prevalence per split ({path.name}):\n{table.round(3).to_string()}")
    return table
