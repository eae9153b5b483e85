"""A mistyped flag costs a blink and names what was meant: the real CLI, in a subprocess, as a user runs it."""

import os
import subprocess
import sys

import pandas as pd
import pytest

from conftest import REPO, make_class_folder, run_cli, run_main

FAST = ["--img-size", "16", "--batch-size", "4", "--num-workers", "0", "--logger", "csv", "--fast-dev-run"]


@pytest.fixture
def workspace(tmp_path):
    """A working folder with data/pets (an image folder) and groups.csv, as a student's project holds them."""
    make_class_folder(tmp_path / "data" / "pets", {"cat": 3, "dog": 3}, size=8)
    (tmp_path / "groups.csv").write_text("path,group\n", encoding="utf-8")
    (tmp_path / "labels.csv").write_text("path,label\n", encoding="utf-8")
    (tmp_path / "weights.pth").write_bytes(b"")
    return tmp_path


@pytest.mark.parametrize(("args", "line"), [
    (["--data", "nosuchdir"], "error: --data: no such folder or built-in dataset: nosuchdir; the built-in datasets "
                              "are digits, digits-grid, mnist, fashion_mnist, cifar10"),
    (["--data", "digit"], "error: --data: no such folder or built-in dataset: digit (did you mean digits or "
                          "digits-grid?); "),
    (["--data", "data/pet"], "error: --data: no such folder: data/pet (did you mean data/pets?)"),
    (["--data", "data/pets/labels.csv"], "error: --data: no such manifest file: data/pets/labels.csv"),
    (["--data", "groups.csv", "--image-root", "data/pet"], "error: --image-root: no such folder: data/pet, which "
                                                           "groups.csv's image paths are relative to (did you mean "
                                                           "data/pets?)"),
    (["--groups", "grups.csv"], "error: --groups: no such file: grups.csv (did you mean groups.csv?)"),
    (["--weights", "weight.pth"], "error: --weights: no such file: weight.pth (did you mean weights.pth?)"),
    (["--config", "grops.csv"], "error: --config: no such file: grops.csv (did you mean groups.csv?)"),
    (["--augment", "meduim"], "error: --augment: 'meduim' is neither a preset (none, heavy, light, medium) nor an "
                              "existing YAML file (did you mean medium?)"),
    (["--augment", "data/pet/aug.yaml"], "existing YAML file (did you mean data/pets?)"),
    (["--monitor", "val/accuracy"], "error: --monitor: unknown value 'val/accuracy' (did you mean val/acc?); "),
    (["--threshold-rule", "yuden"], "error: --threshold-rule: unknown rule 'yuden' (did you mean youden?); "),
])
def test_a_refusal_is_one_line_exit_2_with_the_near_match(workspace, args, line):
    result = run_cli("train.py", *args, cwd=workspace)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and line in result.stderr, result.stderr
    assert not (workspace / "runs").exists()


def test_a_wrong_data_path_is_refused_before_torch_is_imported(workspace):
    """Timing-free: the refusal comes from a process that never imported torch or Lightning."""
    code = ("import sys; from litcls.cli.train import main; code = main(['--data', 'data/pet']); "
            "heavy = sorted(name for name in sys.modules if name.split('.')[0] in ('torch', 'lightning', 'pandas')); "
            "print(code, heavy)")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, "-c", code], cwd=workspace, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2 []" and "did you mean data/pets?" in result.stderr


def test_a_semicolon_manifest_trains_through_the_cli(tmp_path):
    """Excel in a comma-decimal locale saves CSV with semicolons: its columns are read as columns."""
    make_class_folder(tmp_path / "img", {"round": 4, "square": 4}, size=8)
    rows = [{"file": f"img/{path.parent.name}/{path.name}", "shape": path.parent.name, "session": f"s{i % 2}",
             "camera": "a;b" if i == 0 else "c"} for i, path in enumerate(sorted((tmp_path / "img").rglob("*.png")))]
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", sep=";", index=False)
    result = run_main("train.py", "--data", str(tmp_path / "labels.csv"), "--path-col", "file", "--label-col", "shape",
                      "--slice-cols", "session", "--val-size", "0.25", "--test-size", "0.25", "--name", "semi",
                      *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    splits = pd.read_csv(tmp_path / "runs" / "semi" / "splits.csv", dtype=str, keep_default_na=False)
    assert {"session", "camera"} <= set(splits.columns) and len(splits) == 8
    assert "a;b" in set(splits["camera"])  # a quoted field keeps its semicolon
