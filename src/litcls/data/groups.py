"""Group-aware splitting: images that share a group (a patient, a session, a camera) never straddle two splits.

Several photos of one patient are nearly copies of each other. If some sit in train and some in test, the model
is tested on people it has seen and every metric is inflated. ``--groups FILE.csv`` names each image's group;
the holdout splits and the folds then move whole groups, and :func:`check_groups_disjoint` verifies the result
before any training.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
import unicodedata
import warnings
from pathlib import Path

import pandas as pd

from litcls.data.folds import placement
from litcls.data.samples import SampleTable
from litcls.errors import UserError

_SHOWN = 5  # paths or groups named in a message; the rest are counted


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return f"{shown}, ... ({len(items)} in all)" if len(items) > _SHOWN else shown


def _relative_path(path: str, root: Path) -> str:
    """A path of the groups file as the scan writes it: relative to ``root``, '/'-separated, NFC."""
    path = path.strip().replace("\\", "/")
    if os.path.isabs(path):
        for resolve in (os.path.abspath, os.path.realpath):
            relative = os.path.relpath(resolve(path), resolve(root))
            if not relative.startswith(".."):
                path = relative.replace(os.sep, "/")
                break
    return unicodedata.normalize("NFC", posixpath.normpath(path))


def read_groups(file: str | Path, scan: SampleTable) -> pd.Series:
    """Read ``file`` (columns ``path``, ``group``) into one group per row of ``scan.samples``.

    Paths are relative to the data folder, as in ``splits.csv`` (``cat/001.jpg``); absolute paths are accepted.

    Raises:
        UserError: the file lacks a column, gives one image two groups or an empty group, names images that
            are not in the data folder, or misses some of its images.
    """
    file = Path(file)
    try:
        table = pd.read_csv(file, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise UserError(f"--groups: cannot read {file} as a UTF-8 CSV file: {err}") from None
    table.columns = [str(column).strip().lower() for column in table.columns]
    if not {"path", "group"} <= set(table.columns):
        raise UserError(f"--groups: {file} must have the columns path and group; found: {', '.join(table.columns)}")
    table = pd.DataFrame({"path": [_relative_path(p, scan.root) for p in table["path"]],
                          "group": table["group"].str.strip()}).drop_duplicates()
    empty = table.loc[table["group"] == "", "path"].tolist()
    if empty:
        raise UserError(f"--groups: {file} gives no group for: {_listing(empty)}")
    twice = sorted(table.loc[table["path"].duplicated(), "path"].unique())
    if twice:
        raise UserError(f"--groups: {file} gives more than one group to: {_listing(twice)}")
    groups = table.set_index("path")["group"]
    unknown = sorted(set(groups.index) - set(scan.samples["path"]))
    if unknown:
        raise UserError(f"--groups: {file} names images that are not in {scan.root}: {_listing(unknown)}; paths "
                        f"are relative to the data folder, as in splits.csv (e.g. {scan.samples['path'].iloc[0]})")
    missing = sorted(set(scan.samples["path"]) - set(groups.index))
    if missing:
        raise UserError(f"--groups: {file} has no group for {len(missing)} of the {len(scan.samples)} images in "
                        f"{scan.root}: {_listing(missing)}; every image needs a group")
    return pd.Series(groups.loc[scan.samples["path"]].to_numpy(), index=scan.samples.index, name="group")


def attach_groups(scan: SampleTable, file: str | Path) -> SampleTable:
    """The scan with a ``group`` column read from ``file``; the splits then keep each group whole."""
    return dataclasses.replace(scan, samples=scan.samples.assign(group=read_groups(file, scan)))


def groups_from_pattern(scan: SampleTable, pattern: str) -> SampleTable:
    """The scan with a ``group`` column: the first capture group of ``pattern`` searched in each image's path
    (``person(\\d+)_`` finds the patient in the chest X-ray set's ``PNEUMONIA/person1234_bacteria_5678.jpeg``).

    Raises:
        UserError: the pattern is not a regular expression, has no capture group, or misses some images.
    """
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise UserError(f"--group-pattern '{pattern}' is not a regular expression: {err}") from None
    if regex.groups < 1:
        raise UserError(f"--group-pattern '{pattern}' has no capture group: put the part that names the group in "
                        "parentheses, e.g. 'person(\\d+)_'")
    found = scan.samples["path"].str.extract(regex, expand=False)
    found = found.iloc[:, 0] if isinstance(found, pd.DataFrame) else found
    unmatched = scan.samples.loc[found.isna() | (found == ""), "path"].tolist()
    if unmatched:
        what = "matches none of the" if len(unmatched) == len(scan.samples) else f"misses {len(unmatched)} of the"
        raise UserError(f"--group-pattern '{pattern}' {what} {len(scan.samples)} image paths (relative to "
                        f"{scan.root}), e.g. {_listing(unmatched)}; every image needs a group")
    return dataclasses.replace(scan, samples=scan.samples.assign(group=found.to_numpy()))


def stratified_group_holdout(frame: pd.DataFrame, size: float, seed: int, classes: list[str],
                             what: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``frame`` into (rest, held-out) by whole groups, each class held out as near to ``size`` as groups allow.

    The held-out part is one fold of a seeded ``StratifiedGroupKFold`` with ``round(1 / size)`` folds, so its
    fraction is rounded to 1/n (0.15 -> 1/7 = 0.143). Of those folds, the first that leaves the fewest classes
    missing from either side is held out.
    """
    n_splits = max(2, round(1 / size))
    n_groups = frame["group"].nunique()
    if n_groups < n_splits:
        raise UserError(f"--groups: cannot hold out a {what} split of {size:.3g} by group: the {len(frame)} images "
                        f"to split belong to {n_groups} groups and at least {n_splits} are needed; use a larger "
                        f"--{what}-size or more groups")
    from sklearn.model_selection import StratifiedGroupKFold  # seconds to import: only when splitting

    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # sklearn's "least populated class" warning speaks of folds; ours follows
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        candidates = list(splitter.split(frame, frame["label"], frame["group"]))
    labels = frame["label"].to_numpy()
    n_classes = len(set(labels))
    rest_index, held_index = min(candidates, key=lambda pair: sum(n_classes - len(set(labels[part])) for part in pair))
    rest, held = frame.iloc[rest_index], frame.iloc[held_index]
    for part, name in ((held, f"the {what} split"), (rest, f"what is left after the {what} split")):
        absent = [classes[label] for label in sorted(set(frame["label"]) - set(part["label"]))]
        if absent:
            warnings.warn(f"--groups: {name} has no image of class(es) {', '.join(absent)}: their images belong "
                          "to too few groups", stacklevel=3)
    return rest, held


def check_groups_disjoint(samples: pd.DataFrame) -> None:
    """Raise if a group has images in two splits (or two folds); does nothing for a table without groups.

    Raises:
        UserError: naming the groups and the splits they straddle.
    """
    if "group" not in samples:
        return
    places = placement(samples).groupby(samples["group"]).unique()
    crossing = places[places.map(len) > 1]
    if len(crossing):
        described = [f"{group} ({' and '.join(sorted(splits))})" for group, splits in crossing.items()]
        only_val = all(set(splits) <= {"train", "val"} for splits in crossing)
        advice = ("--resplit-val carves validation from the training images by group instead of using the given "
                  "validation split" if only_val else "move each group's images into one split (a pre-split "
                  "folder's train/val/test folders or --split-col)")
        raise UserError(f"groups: {len(crossing)} group(s) have images in more than one split: "
                        f"{_listing(described)}; {advice}")
