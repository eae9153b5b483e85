"""k-fold assignment of the cross-validation pool, and the train/val table of one fold.

A k-fold sample table has ``split`` = ``test`` (held out once, the same for every fold) or ``pool``, and
``fold`` = the fold whose validation split holds the image (empty for test images). Fold ``i`` trains on the
pool images of the other folds and selects its checkpoint on fold ``i``; the test images are never used for
selection.
"""

from __future__ import annotations

import warnings

import pandas as pd

from litcls.data.multilabel_splits import multilabel_folds
from litcls.data.samples import has_targets
from litcls.errors import UserError

POOL = "pool"


def assign_folds(pool: pd.DataFrame, folds: int, seed: int, classes: list[str]) -> pd.Series:
    """The validation fold (0..folds-1) of every row of ``pool``, stratified by label, seeded.

    With a ``group`` column the folds hold whole groups (``StratifiedGroupKFold``), class balance as near as the
    groups allow; otherwise ``StratifiedKFold`` puts ``1/folds`` of every class in each fold.

    Raises:
        UserError: a class has fewer images than folds, or there are fewer groups than folds.

    A multi-label pool (one target column per label) keeps every label's prevalence in each fold instead
    (:func:`litcls.data.multilabel_splits.multilabel_folds`).
    """
    if has_targets(pool, classes):
        return multilabel_folds(pool, folds, seed, classes)
    counts = pool["label"].value_counts()
    too_small = sorted(f"{classes[label]} ({count})" for label, count in counts.items() if count < folds)
    if too_small:
        raise UserError(f"--folds {folds}: class(es) {', '.join(too_small)} have fewer images than folds outside "
                        f"the test split; every class needs at least {folds}, one per validation fold; lower "
                        "--folds or add images")
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold  # seconds to import: only when splitting

    if "group" in pool:
        n_groups = pool["group"].nunique()
        if n_groups < folds:
            raise UserError(f"--groups: --folds {folds} needs at least {folds} groups outside the test split, "
                            f"found {n_groups}; lower --folds or add groups")
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    else:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold = pd.Series(-1, index=pool.index, name="fold", dtype="Int64")
    for index, (_, val_rows) in enumerate(splitter.split(pool, pool["label"], pool.get("group"))):
        fold.iloc[val_rows] = index
    if "group" in pool:
        _warn_classes_missing_from_training(pool, fold, classes)
    return fold


def _warn_classes_missing_from_training(pool: pd.DataFrame, fold: pd.Series, classes: list[str]) -> None:
    """With groups, a class whose images sit in few groups can vanish from a fold's training images."""
    for index in sorted(fold.unique()):
        absent = sorted(set(pool["label"]) - set(pool.loc[fold != index, "label"]))
        if absent:
            warnings.warn(f"--groups: fold {index} has no training image of class(es) "
                          f"{', '.join(classes[label] for label in absent)}: their images belong to too few groups",
                          stacklevel=3)


def fold_split(samples: pd.DataFrame, fold: int) -> pd.DataFrame:
    """The sample table of one fold: pool images of ``fold`` become ``val``, the other pool images ``train``."""
    table = samples.copy()
    pool = table["split"] == POOL
    table.loc[pool, "split"] = (table.loc[pool, "fold"] == fold).map({True: "val", False: "train"})
    return table


def placement(samples: pd.DataFrame) -> pd.Series:
    """Where each row is used: its split, and for a pool image its fold (``pool fold 2``, ``test``, ``train``)."""
    where = samples["split"].astype(str)
    if "fold" in samples:
        in_pool = samples["split"] == POOL
        where = where.mask(in_pool, where + " fold " + samples["fold"].astype("string"))
    return where
