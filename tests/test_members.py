"""Mean ± std over folds and over seeds is one computation (runs/members.py): checked on run folders written here."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from litcls.runs.members import member_metrics, print_members_summary, summarize_members


def _member(run_dir: Path, name: str, **results) -> None:
    (run_dir / name).mkdir(parents=True)
    (run_dir / name / "results.json").write_text(json.dumps(results), encoding="utf-8")


def test_metrics_of_every_file_are_averaged_and_undefined_values_are_null(tmp_path: Path):
    _member(tmp_path, "fold_0", **{"test/acc": 0.5, "test/ppv": None, "monitor": "val/loss", "seconds": 10.0})
    _member(tmp_path, "fold_2", **{"test/acc": 1.0, "test/ppv": 0.25, "epochs_trained": 3, "seconds": 20.0})
    (tmp_path / "fold_2" / "val_results.json").write_text(json.dumps({"val/acc": 0.75}), encoding="utf-8")

    table = member_metrics(tmp_path, "fold", [0, 2], ("results.json", "val_results.json"))
    assert list(table.columns) == ["test/acc", "test/ppv", "val/acc", "epochs_trained", "seconds"]
    assert table.index.name == "fold" and list(table.index) == [0, 2]

    metrics = summarize_members(tmp_path, "fold", [0, 2], "cv_results", ("results.json", "val_results.json"))
    assert metrics["test/acc"] == {"mean": 0.75, "std": 0.3535533905932738, "per_fold": [0.5, 1.0]}
    assert metrics["test/ppv"] == {"mean": 0.25, "std": None, "per_fold": [None, 0.25]}  # one value: no std
    csv = pd.read_csv(tmp_path / "cv_results.csv", dtype={"fold": str})
    assert list(csv["fold"]) == ["0", "2", "mean", "std"] and csv["test/acc"].iloc[2] == 0.75


def test_the_printed_block_lists_each_member_only_when_asked(tmp_path: Path, capsys):
    for seed, acc in ((0, 0.5), (1, 1.0)):
        _member(tmp_path, f"seed_{seed}", **{"test/acc": acc, "epochs_trained": 4, "seconds": 1.5})
    metrics = summarize_members(tmp_path, "seed", [0, 1], "seeds_results")
    assert (tmp_path / "seeds_results.csv").is_file()

    print_members_summary(tmp_path, "TITLE", metrics, "seed", each=True, extra=[("extra", "row")])
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "TITLE" and lines[1] == lines[-1] == "-" * (len("epochs trained") + 50)
    assert lines[3:8] == ["test/acc        0.7500 ± 0.3536   (0.5000, 1.0000)", "extra           row",
                          "epochs trained  4.0 ± 0.0   (4.0, 4.0)", "time            3 s over 2 seeds",
                          f"run folder      {tmp_path}"]
    print_members_summary(tmp_path, "TITLE", metrics, "seed")
    assert "test/acc        0.7500 ± 0.3536" in capsys.readouterr().out.splitlines()
