"""The real command line, in a subprocess (in-process where a run's outputs are the subject), on real image folders."""

import json
import re
import time

import pandas as pd
import pytest
import yaml

from conftest import make_class_folder, run_cli, run_main
from litcls.cli.train import main

TINY = ["--img-size", "16", "--batch-size", "8", "--num-workers", "0", "--val-size", "0.25", "--test-size", "0.25",
        "--logger", "csv"]
CONTRACT_COLUMNS = {"epoch", "train/loss", "val/loss", "val/acc", "val/f1_macro", "val/f1_micro"}


@pytest.mark.slow
def test_train_writes_the_run_folder_and_config_reproduces_the_split(image_folder, tmp_path):
    result = run_cli("train.py", "--data", str(image_folder), "--epochs", "2", "--name", "e2e", *TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "e2e"
    for name in ("config.yaml", "classes.json", "splits.csv", "metrics.csv", "checkpoints/best.ckpt",
                 "checkpoints/last.ckpt", "results.json", "logs/metrics.csv", "confusion_matrix.csv",
                 "confusion_matrix.png", "classification_report.csv", "curves.png", "report.html",
                 "gradcam/class-00-0.png"):
        assert (run / name).is_file(), name
    assert "run folder" in result.stdout and str(run.relative_to(tmp_path)) in result.stdout

    assert json.loads((run / "classes.json").read_text()) == ["circle", "square", "triangle"]
    splits = pd.read_csv(run / "splits.csv")
    assert len(splits) == 36 and splits["path"].is_unique
    metrics = pd.read_csv(run / "metrics.csv")
    assert list(metrics["epoch"]) == [0, 1] and CONTRACT_COLUMNS <= set(metrics.columns)
    results = json.loads((run / "results.json").read_text())
    assert {"test/loss", "test/acc", "test/f1_macro", "test/f1_micro"} <= set(results)
    assert results["best_checkpoint"] == "checkpoints/best.ckpt"
    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == 2

    again = run_main("train.py", "--config", str(run / "config.yaml"), "--epochs", "1", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    rerun = tmp_path / "runs" / "e2e-1"  # the taken name is not overwritten
    pd.testing.assert_frame_equal(pd.read_csv(rerun / "splits.csv"), splits)
    assert yaml.safe_load((rerun / "config.yaml").read_text())["epochs"] == 1


@pytest.mark.slow
def test_default_digits_learn_quickly(tmp_path):
    # 2 epochs: test accuracy 0.98 (0.96 to 0.99 over seeds 0-2), well above the bar
    result = run_main("train.py", "--epochs", "2", "--num-workers", "0", "--name", "digits", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "digits" / "9").is_dir()
    results = json.loads((tmp_path / "runs" / "digits" / "results.json").read_text())
    assert results["test/acc"] > 0.9 and results["test/f1_macro"] > 0.9


@pytest.mark.parametrize("make_args, message", [
    (lambda root: ["--data", str(root / "missing")], "no such folder: .*missing"),
    (lambda root: ["--val-size", "1.5"], "--val-size must be in"),
    (lambda root: ["--augment", "wild"], "'wild' is neither a preset"),
    (lambda root: ["--optimizer", "rmsprop"], "unknown value 'rmsprop'; valid values: sgd, adam, adamw"),
    (lambda root: ["--optimizer", "AdamW"], r"--optimizer: unknown value 'AdamW' \(did you mean adamw\?\)"),
    (lambda root: ["--scheduler", "cosin"], r"--scheduler: unknown value 'cosin' \(did you mean cosine\?\)"),
    (lambda root: ["--optimiser", "adamw"], r"unrecognized arguments: --optimiser adamw \(python train.py --help"),
])
def test_user_mistakes_end_in_one_clear_line(tmp_path, make_args, message):
    result = run_cli("train.py", *make_args(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert re.search(message, result.stderr), result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("make_args, message", [
    (lambda root: ["--data", str(make_class_folder(root / "one", {"only": 4}))], "at least two class folders"),
    (lambda root: ["--model", "vgg99"], "unknown model 'vgg99'; valid models:"),
    (lambda root: ["--model", "resnet81"], r"unknown model 'resnet81' \(did you mean resnet18\?\)"),
    (lambda root: ["--config", str(binary_file(root))], "--config: .*noise.yaml is not a text file"),
    (lambda root: ["--precision", "nonsense"], "--precision nonsense: Precision 'nonsense' is invalid. Allowed"),
    (lambda root: ["--accelerator", "cuda"], "--accelerator cuda: "),
    (lambda root: ["--devices", "0,x"], "--devices: '0,x' is not a list of device ids"),
    (lambda root: [*tiny(root), "--out-dir", str(binary_file(root))], "--out-dir: cannot create a run folder in"),
    (lambda root: [*tiny(root), "--name", "a/b"], "--name: 'a/b' must be a folder name"),
    (lambda root: [*tiny(root), "--img-size", "4"], "--img-size 4 is too small for --model cnn .*use --img-size 32"),
    (lambda root: ["--resume", str(root / "runs" / "nope")], "--resume: no such run folder or checkpoint"),
])
def test_more_mistakes_end_in_one_clear_line(tmp_path, monkeypatch, capsys, make_args, message):
    """The same path as above, in-process: starting a Python process per case costs seconds (those that import
    torch and Lightning before they can refuse, over 10 s)."""
    monkeypatch.chdir(tmp_path)
    assert main([*make_args(tmp_path), "--num-workers", "0"]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # no run folder left


def tiny(root):
    return ["--data", str(make_class_folder(root / "tiny", {"a": 4, "b": 4}, size=8)), "--test-size", "0"]


def binary_file(root):
    path = root / "noise.yaml"
    path.write_bytes(bytes(range(256)))
    return path


def test_help_is_fast(tmp_path):
    started = time.perf_counter()
    result = run_cli("train.py", "--help", cwd=tmp_path)
    assert result.returncode == 0 and "--img-size" in result.stdout
    assert time.perf_counter() - started < 2


def test_an_unknown_model_is_refused_before_torch_loads(tmp_path):
    """A typo of a registered name is refused from the model modules' source, not after importing them."""
    started = time.perf_counter()
    result = run_cli("train.py", "--model", "resnet81", cwd=tmp_path)
    elapsed = time.perf_counter() - started
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert re.search(r"unknown model 'resnet81' \(did you mean resnet18\?\); valid models: cnn, ", result.stderr)
    assert elapsed < 2, f"{elapsed:.1f} s"


def test_list_models_and_print_config(tmp_path):
    listed = run_main("train.py", "--list-models", cwd=tmp_path)
    assert listed.returncode == 0
    for name in ("linear", "mlp", "cnn"):
        assert f"\n{name} " in listed.stdout
    printed = run_cli("train.py", "--model", "mlp", "--lr", "0.3", "--print-config", cwd=tmp_path)
    config = yaml.safe_load(printed.stdout)
    assert config["model"] == "mlp" and config["lr"] == 0.3
