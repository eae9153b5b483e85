"""Mean ± std over the members of a repeated run: the folds of a k-fold run, the seeds of a ``--seeds`` run.

Each member is a complete run in ``<run>/<noun>_<n>/``. Both kinds are summarised alike: one row per member with
every metric of its result files, the mean and the sample standard deviation (ddof=1; undefined, null, for one
member) per metric, written as ``<stem>.csv`` and as the ``metrics`` of ``<stem>.json``, and printed as one block.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from litcls.files import json_number

KEPT = ("epochs_trained", "seconds")  # besides the metrics (every key with a "/")


def member_dir(run_dir: Path, noun: str, number: int) -> Path:
    return run_dir / f"{noun}_{number}"


def std_note(noun: str) -> str:
    """The ``std`` entry of the results file: which standard deviation the numbers are."""
    return f"sample standard deviation over {noun}s (ddof=1)"


def member_metrics(run_dir: Path, noun: str, members: list[int], files: tuple[str, ...]) -> pd.DataFrame:
    """One row per member (index: its number, named ``noun``): every metric of those of ``files`` it holds, then
    epochs trained and seconds."""
    rows = {}
    for number in members:
        row = {}
        for name in files:
            file = member_dir(run_dir, noun, number) / name
            if file.is_file():
                row |= json.loads(file.read_text(encoding="utf-8"))
        rows[number] = {key: value for key, value in row.items()
                        if ("/" in key or key in KEPT) and isinstance(value, int | float)}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis(noun)
    metrics = sorted(column for column in table.columns if "/" in column)
    return table[metrics + [column for column in KEPT if column in table]]


def summarize_members(run_dir: Path, noun: str, members: list[int], stem: str,
                      files: tuple[str, ...] = ("results.json",)) -> dict:
    """Write ``<stem>.csv`` (one row per member, then ``mean`` and ``std``) and return the ``metrics`` entries of
    ``<stem>.json``: per metric its mean, std and ``per_<noun>`` values, null where undefined."""
    per_member = member_metrics(run_dir, noun, members, files)
    summary = pd.DataFrame({"mean": per_member.mean(), "std": per_member.std(ddof=1)}).T
    pd.concat([per_member.set_axis(per_member.index.astype(str)), summary]).to_csv(
        run_dir / f"{stem}.csv", index_label=noun, encoding="utf-8")
    return {name: {"mean": json_number(summary.at["mean", name]), "std": json_number(summary.at["std", name]),
                   f"per_{noun}": [json_number(value) for value in per_member[name]]} for name in per_member.columns}


def print_members_summary(run_dir: Path, title: str, metrics: dict, noun: str, each: bool = False,
                          extra: Sequence[tuple[str, str]] = ()) -> None:
    """Print ``title``, then mean ± std of every metric (with each member's value when ``each``), the ``extra``
    rows, epochs trained, the total time and the run folder."""
    per = f"per_{noun}"

    def spread(name: str, digits: int = 4) -> str:
        mean, std = metrics[name]["mean"], metrics[name]["std"]
        text = f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")
        if each:
            text += "   ({})".format(", ".join("-" if value is None else f"{value:.{digits}f}"
                                               for value in metrics[name][per]))
        return text

    rows = [(name, spread(name)) for name in metrics if "/" in name and metrics[name]["mean"] is not None]
    rows += extra
    if "epochs_trained" in metrics:
        rows.append(("epochs trained", spread("epochs_trained", 1)))
    if "seconds" in metrics:
        seconds = metrics["seconds"][per]
        rows.append(("time", f"{sum(seconds):.0f} s over {len(seconds)} {noun}s"))
    rows.append(("run folder", str(run_dir)))
    width = max(len(key) for key, _ in rows)
    line = "-" * (width + 50)
    print(f"\n{line}\n{title}")
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    print(line)
