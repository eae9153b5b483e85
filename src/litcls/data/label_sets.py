"""Multi-label targets from a manifest, in the two forms public sets ship them.

ChestX-ray14 lists an image's findings in one column joined by ``|`` (``Cardiomegaly|Effusion``, ``No Finding``
for none): ``--label-col "Finding Labels" --label-sep '|' --negative-label 'No Finding'``. CheXpert gives one
column per finding holding 1, 0, -1 (the labeler was uncertain) or blank (not mentioned):
``--label-cols Atelectasis,Edema,...``, with ``--uncertain`` and ``--missing`` saying what -1 and blank mean.

Either way the result is one float column per label (:func:`~litcls.data.samples.target_columns`): 1.0, 0.0 or
NaN for a cell left out of the loss and of that label's metrics.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from litcls.data.samples import target_columns
from litcls.errors import UserError
from litcls.suggest import did_you_mean

_SHOWN = 5
_SEPARATORS = ("|", ";", ",", "/", "+", " ")  # what a wrong --label-sep is checked against


@dataclass(frozen=True)
class LabelForm:
    """How a manifest gives several labels per image (the multi-label flags of ``train.py``)."""

    label_col: str = "label"
    label_sep: str | None = None
    negative_label: str | None = None
    label_cols: str | None = None
    uncertain: str = "ignore"
    missing: str = "negative"

    @property
    def columns(self) -> list[str]:
        """The manifest columns the labels are read from."""
        if self.label_cols:
            return [name.strip() for name in self.label_cols.split(",") if name.strip()]
        return [self.label_col]

    @property
    def flag(self) -> str:
        return "--label-cols" if self.label_cols else "--label-sep"


def _row(index: int) -> str:
    return f"row {index + 2}"  # the header is line 1, as a spreadsheet shows it


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return f"{shown}, ... ({len(items)} in all)" if len(items) > _SHOWN else shown


def read_targets(table: pd.DataFrame, file: Path, form: LabelForm) -> tuple[list[str], pd.DataFrame]:
    """The label names and the (rows, labels) float targets of a manifest's rows.

    Raises:
        UserError: a named column is missing, a cell is not 1/0/-1/blank, a row has no label and no
            ``--negative-label`` says that is meant, every row has a single label (a wrong separator), or no
            label has a positive image.
    """
    if form.label_cols:
        classes, targets = _from_columns(table, file, form)
    else:
        classes, targets = _from_joined(table, file, form)
    absent = [name for name, column in zip(classes, target_columns(classes), strict=True)
              if not (targets[column] == 1).any()]
    if absent:
        raise UserError(f"{form.flag}: label(s) {_listing(absent)} of {file} have no positive image; remove them or "
                        "add images that have them")
    return classes, targets


def _from_columns(table: pd.DataFrame, file: Path, form: LabelForm) -> tuple[list[str], pd.DataFrame]:
    names = form.columns
    missing = [name for name in names if name not in table]
    if missing:
        raise UserError(f"--label-cols: {file} has no column {', '.join(missing)}"
                        f"{did_you_mean(missing[0], table.columns)}; its columns are: {', '.join(table.columns)}")
    if len(set(names)) < len(names):
        raise UserError(f"--label-cols names a column twice: {form.label_cols}")
    meaning = {1.0: 1.0, 0.0: 0.0, -1.0: {"ignore": np.nan, "zeros": 0.0, "ones": 1.0}[form.uncertain]}
    blank = 0.0 if form.missing == "negative" else np.nan
    columns = {}
    for name in names:
        cells = table[name].str.strip()
        numbers = pd.to_numeric(cells.mask(cells == ""), errors="coerce")  # CheXpert writes 1.0, 0.0, -1.0
        bad = cells[(cells != "") & ~numbers.isin(list(meaning))]
        if len(bad):
            rows = [f"{_row(index)} ({cells[index]!r})" for index in bad.index]
            raise UserError(f"--label-cols: column {name} of {file} holds values other than 1, 0, -1 or blank in "
                            f"{_listing(rows)}")
        columns[name] = numbers.map(meaning).where(cells != "", blank).astype(np.float64)
    classes = list(names)
    return classes, pd.DataFrame(dict(zip(target_columns(classes), columns.values(), strict=True)),
                                 index=table.index)


def _from_joined(table: pd.DataFrame, file: Path, form: LabelForm) -> tuple[list[str], pd.DataFrame]:
    column, sep, negative = form.label_col, form.label_sep, form.negative_label
    if column not in table:
        raise UserError(f"--label-col {column}: {file} has no such column{did_you_mean(column, table.columns)}; its "
                        f"columns are: {', '.join(table.columns)}")
    values = table[column].map(lambda text: unicodedata.normalize("NFC", text.strip()))
    empty = [_row(index) for index in values.index[values == ""]]
    if empty:
        say = (f"write {negative!r} there for an image without labels" if negative else
               "give --negative-label for the value that means no label (e.g. 'No Finding')")
        raise UserError(f"--label-col {column}: {file} has no label in {_listing(empty)}; {say}")
    sets = values.map(lambda text: [] if text == negative else sorted({part.strip() for part in text.split(sep)
                                                                        if part.strip()}))
    with_negative = [_row(index) for index, labels in sets.items() if negative and negative in labels]
    if with_negative:
        raise UserError(f"--negative-label {negative!r}: {file} gives it beside other labels in "
                        f"{_listing(with_negative)}; it must stand alone")
    if (sets.map(len) <= 1).all():
        others = [other for other in _SEPARATORS if other != sep and values.str.contains(other, regex=False).any()]
        hint = f" (its values hold {others[0]!r})" if others else ""
        raise UserError(f"--label-sep {sep!r} yields a single label on every row of {file}'s {column}: probably "
                        f"the wrong separator{hint}; for one class per image leave --label-sep out")
    without = [_row(index) for index, labels in sets.items() if not labels and values[index] != negative]
    if without:
        raise UserError(f"--label-col {column}: {file} has no label in {_listing(without)}")
    classes = sorted({name for labels in sets for name in labels})
    index = {name: position for position, name in enumerate(classes)}
    matrix = np.zeros((len(sets), len(classes)))
    for row, labels in enumerate(sets):
        matrix[row, [index[name] for name in labels]] = 1.0
    return classes, pd.DataFrame(matrix, columns=target_columns(classes), index=table.index)


def positives_text(targets: pd.DataFrame, classes: list[str]) -> pd.Series:
    """Each row's positive labels joined by ``|`` (``splits.csv``'s class column; empty for none)."""
    names = np.array(classes, dtype=object)
    positive = targets[target_columns(classes)].to_numpy() == 1
    return pd.Series(["|".join(names[row]) for row in positive], index=targets.index, dtype=object)
