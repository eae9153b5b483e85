"""Splits and folds of a multi-label table: every label's prevalence kept at once, whole groups kept together.

Stratifying on one label (or on the label set as one class) cannot keep a rare finding's share in every split
when images carry several findings; iterative stratification (Sechidis et al. 2011, the
``iterative-stratification`` package) places the rarest label's samples first and keeps them all near their
share. With groups (a patient), each group is one sample whose label vector is the union of its images' labels
(an ignored cell counts as 0), so no group straddles two splits; of a few seeded candidate splits the one whose
images' prevalence and size come nearest the whole's is kept (measured in ``bench/multilabel_splits.py``). The
rows are sorted by path and the splitter seeded, so the same table and seed give the same split.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from litcls.data.samples import target_columns
from litcls.errors import UserError
from litcls.tasks import MULTI_LABEL, task_for

# with groups, a held-out split (or a set of folds) is the best of this many seeded candidates: whole groups of
# 1..n images move at once, so one draw may miss a label's image prevalence or the split's size by several points
GROUP_CANDIDATES = 10


def _units(frame: pd.DataFrame, classes: list[str]) -> tuple[pd.Series, pd.DataFrame]:
    """Each row's unit (its group, or the row itself) and every unit's 0/1 label vector, units in sorted order."""
    key = frame["group"].astype(str) if "group" in frame else pd.Series(np.arange(len(frame)), index=frame.index)
    positive = task_for(MULTI_LABEL).stratification_key(frame, classes)  # (N, L) 0/1, ignored as 0
    per_unit = pd.DataFrame(positive, index=frame.index).groupby(key.to_numpy(), sort=True).max()
    return key, per_unit


def multilabel_holdout(frame: pd.DataFrame, size: float, seed: int, classes: list[str],
                       what: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``frame`` into (rest, held-out): ``size`` of its images (of its groups, with groups) held out,
    every label's prevalence kept on both sides."""
    key, units = _units(frame, classes)
    noun = "groups" if "group" in frame else "images"
    if len(units) < 2 or round(size * len(units)) < 1:
        raise UserError(f"cannot hold out a {what} split of {size:.3g} from {len(units)} {noun}; use a larger "
                        f"--{what}-size or add {noun}")
    tries = GROUP_CANDIDATES if "group" in frame else 1
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit  # imports sklearn: seconds

    splitter = MultilabelStratifiedShuffleSplit(n_splits=tries, test_size=size, random_state=seed)
    candidates = [key.isin(set(units.index[held])).to_numpy().astype(np.int64)
                  for _, held in splitter.split(np.zeros((len(units), 1)), units.to_numpy())]
    best = _closest(candidates, frame[target_columns(classes)].to_numpy(dtype=np.float64), {1: size}).astype(bool)
    return frame[~best], frame[best]


def multilabel_folds(pool: pd.DataFrame, folds: int, seed: int, classes: list[str]) -> pd.Series:
    """The validation fold (0..folds-1) of every row of ``pool``, every label's prevalence kept in each fold,
    whole groups per fold.

    Raises:
        UserError: fewer images (groups) than folds.
    """
    key, units = _units(pool, classes)
    if len(units) < folds:
        noun = "groups" if "group" in pool else "images"
        raise UserError(f"--folds {folds} needs at least {folds} {noun} outside the test split, found {len(units)}; "
                        "lower --folds or add images")
    from iterstrat.ml_stratifiers import MultilabelStratifiedKFold  # imports sklearn: seconds

    random = np.random.RandomState(seed)  # each candidate draws its own shuffle from it
    candidates = []
    for _ in range(GROUP_CANDIDATES if "group" in pool else 1):
        splitter = MultilabelStratifiedKFold(n_splits=folds, shuffle=True, random_state=random)
        unit_fold = np.full(len(units), -1)
        for index, (_, val_units) in enumerate(splitter.split(np.zeros((len(units), 1)), units.to_numpy())):
            unit_fold[val_units] = index
        candidates.append(pd.Series(unit_fold, index=units.index).loc[key.to_numpy()].to_numpy())
    shares = {index: 1 / folds for index in range(folds)}
    best = _closest(candidates, pool[target_columns(classes)].to_numpy(dtype=np.float64), shares)
    fold = pd.Series(best, index=pool.index, name="fold").astype("Int64")
    for index in range(folds):
        _check_training_positives(pool[fold != index], classes, f"fold {index}'s training images", warn=True)
        _warn_without_positives(pool[fold == index], classes, f"fold {index}'s validation images")
    return fold


def _closest(candidates: list[np.ndarray], targets: np.ndarray, shares: dict[int, float]) -> np.ndarray:
    """The candidate assignment (a part per row) whose parts' label prevalence and size come nearest the whole's:
    the one with the smallest largest gap, in points, over every label and part."""
    overall = np.nanmean(targets, axis=0)

    def gap(parts: np.ndarray) -> float:
        gaps = []
        for part in np.unique(parts):
            with warnings.catch_warnings():  # a label whose every cell in the part is ignored has no prevalence
                warnings.simplefilter("ignore", RuntimeWarning)
                gaps.append(np.nanmax(np.abs(np.nanmean(targets[parts == part], axis=0) - overall), initial=0))
            if part in shares:
                gaps.append(abs((parts == part).mean() - shares[part]))
        return max(gaps)

    return min(candidates, key=gap)


def label_prevalence(samples: pd.DataFrame, classes: list[str], where: pd.Series | None = None) -> pd.DataFrame:
    """Each label's prevalence (positives over the cells not ignored) per split and over all images: a row per
    label, a column per place (``train``, ``val``, ``test``; ``pool fold 1`` in k-fold with ``where``)."""
    where = samples["split"] if where is None else where
    targets = samples[target_columns(classes)].set_axis(classes, axis=1)
    table = {"all": targets.mean()}
    order = ["train", "val", "test"]
    for place in sorted(where.unique(), key=lambda name: (order.index(name) if name in order else 3, name)):
        table[place] = targets[where == place].mean()
    return pd.DataFrame(table).rename_axis("label")


def check_split_positives(samples: pd.DataFrame, classes: list[str]) -> None:
    """A label without a positive training image stops the run; one without a positive in val or test warns."""
    _check_training_positives(samples[samples["split"] == "train"], classes, "the training split", warn=False)
    for split in ("val", "test"):
        rows = samples[samples["split"] == split]
        if len(rows):
            _warn_without_positives(rows, classes, f"the {split} split")


def _without_positives(rows: pd.DataFrame, classes: list[str]) -> list[str]:
    columns = zip(classes, target_columns(classes), strict=True)
    return [name for name, column in columns if not (rows[column] == 1).any()]


def _check_training_positives(rows: pd.DataFrame, classes: list[str], what: str, warn: bool) -> None:
    absent = _without_positives(rows, classes)
    if not absent:
        return
    message = (f"label(s) {', '.join(absent)} have no positive image in {what}: the model cannot learn them; add "
               "images that have them, or remove the labels")
    if warn:
        warnings.warn(message, stacklevel=3)
    else:
        raise UserError(message)


def _warn_without_positives(rows: pd.DataFrame, classes: list[str], what: str) -> None:
    absent = _without_positives(rows, classes)
    if absent:
        warnings.warn(f"label(s) {', '.join(absent)} have no positive image in {what}: their metrics there are "
                      "empty", stacklevel=3)
