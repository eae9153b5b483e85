"""The one atomic write: a reader sees the old file or the new one, never half of one, and nothing is left over."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from litcls.files import json_number, write_atomically


def test_a_file_is_replaced_whole_and_no_temporary_is_left(tmp_path: Path):
    target = tmp_path / "table.csv"
    target.write_text("old\n", encoding="utf-8")
    seen = []

    def write(temporary: Path) -> None:
        seen.append(temporary)
        assert temporary.parent == tmp_path and temporary.name.startswith(".table.csv.")
        temporary.write_text("new\n", encoding="utf-8")
        assert target.read_text(encoding="utf-8") == "old\n"  # untouched until the rename

    assert write_atomically(target, write) == target
    assert target.read_text(encoding="utf-8") == "new\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["table.csv"]


def test_a_failed_write_keeps_the_old_file_and_removes_what_it_wrote(tmp_path: Path):
    target = tmp_path / "results.json"
    target.write_text("{}", encoding="utf-8")

    def half(temporary: Path) -> None:
        temporary.write_text('{"test/acc": 0.', encoding="utf-8")
        raise KeyboardInterrupt  # a Ctrl-C mid-write

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, half)
    assert target.read_text(encoding="utf-8") == "{}"
    assert [path.name for path in tmp_path.iterdir()] == ["results.json"]


def test_a_folder_is_built_aside_and_renamed_and_a_failed_one_removed(tmp_path: Path):
    def build(folder: Path) -> None:
        (folder / "a").mkdir(parents=True)
        (folder / "a" / "x.png").write_bytes(b"png")

    write_atomically(tmp_path / "digits", build)
    assert (tmp_path / "digits" / "a" / "x.png").read_bytes() == b"png"

    def broken(folder: Path) -> None:
        build(folder)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(tmp_path / "other", broken)
    assert [path.name for path in tmp_path.iterdir()] == ["digits"]


def test_json_numbers_write_undefined_as_null():
    assert json_number(float("nan")) is None and json_number(None) is None
    assert json_number(0.25) == 0.25 and type(json_number(3)) is float
    assert not math.isnan(json_number(1e-300))
