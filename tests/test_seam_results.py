"""Single-label results do not move when the code that computes them is restructured: two small fixed-seed runs
(the built-in digits, ten classes; a two-class digit folder with an operating threshold) reproduce the
``results.json`` stored in ``tests/seam_expected/`` by the code before the task seam, to float noise."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from conftest import run_cli
from digit_folders import make_digit_folder

EXPECTED = Path(__file__).parent / "seam_expected"
QUIET = ["--img-size", "16", "--seed", "42", "--logger", "none", "--gradcam-per-class", "0",
         "--gradcam-mistakes", "0", "--bootstrap", "200"]
RUNS = {
    "digits": ["--data", "digits", "--epochs", "1"],
    "two_class": ["--epochs", "2", "--threshold-rule", "youden"],  # --data: a two-class digit folder
}
VOLATILE = {"seconds"}  # wall-clock time


def fixed_run(name: str, tmp_path: Path) -> dict:
    """The ``results.json`` of one fixed run, on one torch thread (as the stored copies were made)."""
    args = list(RUNS[name])
    if name == "two_class":
        args = ["--data", str(make_digit_folder(tmp_path / "two", classes=2, per_class=40)), *args]
    done = run_cli("train.py", *args, *QUIET, "--out-dir", str(tmp_path / "runs"), "--name", name, cwd=tmp_path,
                   env={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((tmp_path / "runs" / name / "results.json").read_text(encoding="utf-8"))


def differences(expected, actual, where: str = "") -> list[str]:
    """Where two results differ: keys, strings and booleans exactly, numbers to 1e-6 (relative or absolute)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = [f"{where}/{key}: missing" for key in expected.keys() - actual.keys() - VOLATILE]
        found += [f"{where}/{key}: unexpected" for key in actual.keys() - expected.keys() - VOLATILE]
        for key in expected.keys() & actual.keys() - VOLATILE:
            found += differences(expected[key], actual[key], f"{where}/{key}")
        return found
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [found for index, (e, a) in enumerate(zip(expected, actual, strict=True))
                for found in differences(e, a, f"{where}[{index}]")]
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(actual, numbers) and not isinstance(expected, bool) \
            and not isinstance(actual, bool):
        close = math.isclose(expected, actual, rel_tol=1e-6, abs_tol=1e-6)
        return [] if close else [f"{where}: {expected} != {actual}"]
    return [] if expected == actual else [f"{where}: {expected!r} != {actual!r}"]


def test_differences_sees_a_moved_metric():
    assert differences({"a": 0.5, "b": [1, "x"], "seconds": 3}, {"a": 0.5 + 1e-9, "b": [1, "x"], "seconds": 9}) == []
    assert differences({"a": 0.5}, {"a": 0.5001}) == ["/a: 0.5 != 0.5001"]
    assert differences({"a": {"b": 1}}, {"a": {}}) == ["/a/b: missing"]


@pytest.mark.parametrize("name", sorted(RUNS))
def test_fixed_seed_run_reproduces_stored_results(name: str, tmp_path: Path):
    results = fixed_run(name, tmp_path)
    if os.environ.get("LITCLS_WRITE_EXPECTED"):  # regenerate on purpose, when a change is meant to move results
        (EXPECTED / f"{name}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    expected = json.loads((EXPECTED / f"{name}.json").read_text(encoding="utf-8"))
    assert differences(expected, results) == []
