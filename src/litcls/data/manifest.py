"""A CSV or TSV manifest as a data source: one row per image, as Kaggle-style datasets ship them.

HAM10000 comes as ``HAM10000_metadata.csv`` (``lesion_id, image_id, dx, sex, ...``) beside an image folder, APTOS
as ``train.csv`` (``id_code, diagnosis``). ``--data labels.csv --path-col images/{image_id}.jpg --label-col dx
--group-col lesion_id`` reads such a file directly: paths come from a column or a template over columns, class
names from the label column (any text, sorted as text), and every other column is kept as metadata (written to
``splits.csv``, and per value in ``slices.csv`` when named by ``--slice-cols``).

Rows whose image file is missing or cannot be decoded are skipped into ``skipped.csv`` with one warning; every
other problem (a missing column, an empty label, a class with one image, a split that is not train/val/test)
stops before anything is written, naming the file, the column and the row.
"""

from __future__ import annotations

import csv
import os
import posixpath
import string
import unicodedata
import warnings
from pathlib import Path

import pandas as pd

from litcls.data.label_sets import LabelForm, positives_text, read_targets
from litcls.data.samples import MULTI_LABEL, SampleTable, target_columns
from litcls.data.scan import SPLIT_FOLDERS, sort_by_path
from litcls.data.source_paths import MANIFEST_SUFFIXES, is_manifest, manifest_root, missing_image_root, missing_manifest
from litcls.data.validate import describe_rejected, find_unreadable
from litcls.errors import UserError
from litcls.suggest import did_you_mean
from litcls.tasks.multi_label import TARGET_PREFIX

__all__ = ["MANIFEST_SUFFIXES", "is_manifest", "manifest_root", "manifest_images", "read_manifest", "read_table"]
# columns of splits.csv and predictions.csv; a metadata column of the same name is kept as meta_<name>
RESERVED = frozenset({"path", "label", "class", "split", "fold", "group", "predicted", "probability", "loss",
                      "correct", "gradcam", "given_split"})
_SHOWN = 5


def _row(index: int) -> str:
    return f"row {index + 2}"  # the header is line 1; data rows count from line 2, as a spreadsheet shows them


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return f"{shown}, ... ({len(items)} in all)" if len(items) > _SHOWN else shown


DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
_SNIFFED_BYTES = 64 * 1024
_SNIFFED_LINES = 50


def sniff_delimiter(file: Path) -> str:
    """The manifest's field separator: comma, semicolon (Excel's CSV where the decimal mark is a comma) or tab.

    The one of them the header line holds; where it holds several, the one that splits the first lines into the
    same number of fields, the most fields winning (quoted fields are respected); the suffix's own (tab for
    ``.tsv``, comma for ``.csv``) where the header holds none (a one-column file) or the lines do not tell.
    """
    expected = "\t" if file.suffix.lower() == ".tsv" else ","
    try:
        with file.open(encoding="utf-8-sig", newline="") as stream:
            sample = stream.read(_SNIFFED_BYTES)
    except (OSError, UnicodeDecodeError):
        return expected  # read_table reports it, with pandas' words
    lines = sample.splitlines()
    lines = lines[:-1] if len(sample) == _SNIFFED_BYTES and len(lines) > 1 else lines
    lines = lines[:_SNIFFED_LINES]
    present = [delimiter for delimiter in DELIMITERS if lines and delimiter in lines[0]]
    if len(present) <= 1:
        return present[0] if present else expected

    def widths(delimiter: str) -> set[int]:
        return {len(row) for row in csv.reader(lines, delimiter=delimiter) if row}

    consistent = [delimiter for delimiter in present if len(widths(delimiter)) == 1] or present
    return max(consistent, key=lambda delimiter: (max(widths(delimiter)), delimiter == expected))


def read_table(file: Path) -> pd.DataFrame:
    """The manifest as text columns (nothing parsed as numbers or NaN), header names stripped; the separator is
    sniffed (:func:`sniff_delimiter`)."""
    if not file.is_file():
        raise missing_manifest(file)
    try:
        table = pd.read_csv(file, sep=sniff_delimiter(file), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise UserError(f"--data: cannot read {file} as a UTF-8 {file.suffix[1:].upper()} file: "
                        f"{' '.join(str(err).split())}") from None
    table.columns = [str(column).strip() for column in table.columns]
    if table.empty:
        raise UserError(f"--data: {file} has no rows")
    return table


def _column(table: pd.DataFrame, file: Path, name: str, flag: str) -> pd.Series:
    if name not in table:
        raise UserError(f"{flag} {name}: {file} has no such column{did_you_mean(name, table.columns)}; its columns "
                        f"are: {', '.join(table.columns)}")
    return table[name].str.strip()


def _normalise(path: str) -> str:
    # not NFC-normalised: on Linux a file is opened by the bytes of its name, as the manifest gives them
    return posixpath.normpath(path.strip().replace("\\", "/"))


def _paths(table: pd.DataFrame, file: Path, path_col: str, root: Path) -> pd.Series:
    """Image paths relative to ``root``, '/'-separated, NFC (the columns a template uses stay metadata too)."""
    fields = [name for _, name, _, _ in string.Formatter().parse(path_col) if name is not None]
    if fields:  # a template such as images/{image_id}.jpg
        missing = [name for name in fields if name not in table]
        if missing:
            raise UserError(f"--path-col {path_col}: {file} has no column {', '.join(missing)}"
                            f"{did_you_mean(missing[0], table.columns)}; its columns are: "
                            f"{', '.join(table.columns)}")
        paths = pd.Series([path_col.format_map(row) for row in table[fields].to_dict("records")], index=table.index)
    else:
        paths = _column(table, file, path_col, "--path-col")
    empty = [_row(index) for index in paths.index[paths == ""]]
    if empty:
        raise UserError(f"--path-col {path_col}: {file} gives no image path in {_listing(empty)}")
    absolute = root.resolve()
    relative = [os.path.relpath(path, absolute) if os.path.isabs(path) else path for path in paths]
    return pd.Series([_normalise(path) for path in relative], index=table.index)


def _splits(table: pd.DataFrame, file: Path, split_col: str) -> pd.Series:
    values = _column(table, file, split_col, "--split-col").str.lower()
    bad = values[~values.isin(SPLIT_FOLDERS)]
    if len(bad):
        rows = [f"{_row(index)} ({table.at[index, split_col]!r})" for index in bad.index]
        raise UserError(f"--split-col {split_col}: {file} has values other than train, val, test in "
                        f"{_listing(rows)}")
    splits = values.map(SPLIT_FOLDERS)
    if not (splits == "train").any():
        raise UserError(f"--split-col {split_col}: {file} marks no row as train")
    return splits


def read_manifest(file: str | Path, path_col: str = "path", label_col: str = "label", group_col: str | None = None,
                  split_col: str | None = None, image_root: str | None = None, workers: int = 0,
                  labels: LabelForm | None = None) -> SampleTable:
    """Read a manifest into the sample table (rows sorted by path, like a folder scan).

    ``labels`` with ``label_sep`` or ``label_cols`` set reads several labels per image
    (:mod:`litcls.data.label_sets`): a multi-label table.

    Raises:
        UserError: see the module docstring.
    """
    file = Path(file)
    table = read_table(file)
    root = manifest_root(str(file), image_root)
    if not root.is_dir():
        raise missing_image_root(root, file)
    paths = _paths(table, file, path_col, root)
    if labels is not None and (labels.label_sep or labels.label_cols):
        return _read_multi_label(table, file, root, paths, labels, group_col, split_col, workers)
    labels = _column(table, file, label_col, "--label-col").map(lambda name: unicodedata.normalize("NFC", name))
    empty = [_row(index) for index in labels.index[labels == ""]]
    if empty:
        raise UserError(f"--label-col {label_col}: {file} has an empty label in {_listing(empty)}")
    columns = {"path": paths, "class": labels}
    samples = _with_splits_groups_metadata(table, file, columns, split_col, group_col, {path_col, label_col})
    samples, skipped = _existing_readable(samples, root, file, workers)
    classes = sorted(samples["class"].unique())
    _check_classes(samples, classes, file, label_col)
    samples.insert(1, "label", samples["class"].map({name: index for index, name in enumerate(classes)}))
    samples = samples.drop(columns="class")
    return SampleTable(root=root, classes=classes, samples=sort_by_path(samples), skipped=tuple(skipped))


def check_labels(file: str | Path, labels: LabelForm) -> None:
    """Read only the labels of a multi-label manifest, so ``train.py`` refuses a bad cell before torch loads.

    Raises:
        UserError: see :func:`litcls.data.label_sets.read_targets`.
    """
    read_targets(read_table(Path(file)), Path(file), labels)


def _with_splits_groups_metadata(table: pd.DataFrame, file: Path, columns: dict[str, pd.Series],
                                 split_col: str | None, group_col: str | None, used: set[str]) -> pd.DataFrame:
    """The sample rows: ``columns``, then split, group and every other column as metadata, one row per image."""
    columns = dict(columns)
    if split_col:
        columns["split"] = _splits(table, file, split_col)
    if group_col:
        groups = _column(table, file, group_col, "--group-col")
        empty = [_row(index) for index in groups.index[groups == ""]]
        if empty:
            raise UserError(f"--group-col {group_col}: {file} has an empty group in {_listing(empty)}")
        columns["group"] = groups
    used = used | {group_col, split_col}
    metadata = {(f"meta_{name}" if name in RESERVED or name.startswith(TARGET_PREFIX) else name): table[name]
                for name in table.columns if name not in used}
    samples = pd.DataFrame(columns | metadata)
    if "split" not in samples:
        samples["split"] = ""
    return _without_repeats(samples, file)


def _read_multi_label(table: pd.DataFrame, file: Path, root: Path, paths: pd.Series, form: LabelForm,
                      group_col: str | None, split_col: str | None, workers: int) -> SampleTable:
    """The multi-label sample table: ``label`` -1, one target column per label (see :mod:`~litcls.data.label_sets`);
    ``class`` (the positive labels joined by ``|``) only tells repeated rows apart and is dropped."""
    classes, targets = read_targets(table, file, form)
    columns = {"path": paths, "class": positives_text(targets, classes)} | dict(targets.items())
    samples = _with_splits_groups_metadata(table, file, columns, split_col, group_col, set(form.columns))
    samples, skipped = _existing_readable(samples, root, file, workers)
    samples.insert(1, "label", -1)
    samples = samples.drop(columns="class")
    if (samples["split"] != "").any():
        train = samples.loc[samples["split"] == "train", target_columns(classes)]
        absent = [name for name, column in zip(classes, train.columns, strict=True) if not (train[column] == 1).any()]
        if absent:
            raise UserError(f"--split-col: label(s) {_listing(absent)} of {file} have no positive train row; add "
                            "training images that have them or remove the labels")
    return SampleTable(root=root, classes=classes, samples=sort_by_path(samples), skipped=tuple(skipped),
                       task=MULTI_LABEL)


def _without_repeats(samples: pd.DataFrame, file: Path) -> pd.DataFrame:
    """One row per image: a row repeated exactly is dropped with a warning; one image under two labels stops."""
    repeated = samples["path"].duplicated(keep=False)
    if not repeated.any():
        return samples
    conflicting = samples[repeated].groupby("path")["class"].nunique()
    conflicting = conflicting[conflicting > 1]
    if len(conflicting):
        raise UserError(f"--data: {file} gives more than one label to {_listing(list(conflicting.index))}")
    twice = sorted(samples.loc[samples["path"].duplicated(), "path"].unique())
    warnings.warn(f"{file}: {len(twice)} image(s) listed more than once, each used once: {_listing(twice)}",
                  stacklevel=3)
    return samples.drop_duplicates("path").reset_index(drop=True)


def _existing_readable(samples: pd.DataFrame, root: Path, file: Path,
                       workers: int) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Drop rows whose file is missing or cannot be decoded (one warning); stop when none remain. The verdicts
    come from the scan index (:mod:`litcls.data.index`): a restart re-checks only new or changed files."""
    exists = samples["path"].map(lambda path: os.path.isfile(root / path))
    skipped = [(path, f"missing: no such file under {root}") for path in samples.loc[~exists, "path"]]
    skipped += find_unreadable(root, samples.loc[exists, "path"].tolist(), workers=workers)
    if skipped:
        if len(skipped) == len(samples):
            raise UserError(f"--data: none of the {len(samples)} images {file} lists can be read from {root} (e.g. "
                            f"{skipped[0][0]}: {skipped[0][1]}); check --path-col and --image-root")
        warnings.warn(f"{file}: {describe_rejected(skipped, len(samples))}", stacklevel=3)
        samples = samples[~samples["path"].isin({path for path, _ in skipped})].reset_index(drop=True)
    return samples, skipped


def _check_classes(samples: pd.DataFrame, classes: list[str], file: Path, label_col: str) -> None:
    if len(classes) < 2:
        raise UserError(f"--label-col {label_col}: {file} must have at least two classes; found "
                        f"{', '.join(classes) or 'none'}")
    counts = samples["class"].value_counts()
    single = sorted(counts.index[counts < 2])
    if single:
        raise UserError(f"--label-col {label_col}: class(es) {_listing(single)} of {file} have a single image; one "
                        "image cannot be both learned and evaluated: add images or remove those rows")
    if (samples["split"] != "").any():
        train = set(samples.loc[samples["split"] == "train", "class"])
        absent = [name for name in classes if name not in train]
        if absent:
            raise UserError(f"--split-col: class(es) {_listing(absent)} of {file} have no train row; add training "
                            "images for them or remove them")
        for split in ("val", "test"):
            given = set(samples.loc[samples["split"] == split, "class"])
            if given and set(classes) - given:
                warnings.warn(f"{file}: the {split} split has no images of {_listing(sorted(set(classes) - given))}; "
                              "these classes are evaluated on the other splits only", stacklevel=3)


def manifest_images(file: str | Path, path_col: str = "path", label_col: str = "label",
                    image_root: str | None = None, label_optional: bool = False) -> tuple[list[Path], list[str] | None]:
    """The image files a manifest lists, in its order, and their class names from ``label_col`` (None when
    ``label_optional`` and the manifest has no such column): ``predict.py --images labels.csv``, an external test
    set given as a table. Files are not checked here: the caller reports unreadable ones per row.

    Raises:
        UserError: the file cannot be read, a named column is missing, a path or label is empty.
    """
    file = Path(file)
    table = read_table(file)
    root = manifest_root(str(file), image_root)
    paths = [root / path for path in _paths(table, file, path_col, root)]
    if label_optional and label_col not in table:
        return paths, None
    labels = _column(table, file, label_col, "--label-col").map(lambda name: unicodedata.normalize("NFC", name))
    empty = [_row(index) for index in labels.index[labels == ""]]
    if empty:
        raise UserError(f"--label-col {label_col}: {file} has an empty label in {_listing(empty)}")
    return paths, labels.tolist()
