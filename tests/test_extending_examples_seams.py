"""The examples of docs/examples, one per extension seam (data source, loss, logger, callback), used as a user
would: the registries through their API, and train.py on tiny data with --fast-dev-run."""

import importlib.util
import json
import os
import re
import subprocess
import sys

import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO, make_class_folder, run_main
from litcls.cli.train import main
from litcls.config.output import LOGGERS
from litcls.data.builtin import DATA_HOME_ENV
from litcls.data.sources import SOURCES, DataSpec, image_root, load_samples
from litcls.errors import UserError
from litcls.recipe.losses import LOSSES, build_loss
from litcls.tracking.loggers import BUILTIN_LOGGERS

EXAMPLES = REPO / "docs" / "examples"
TINY = ["--img-size", "16", "--batch-size", "4", "--num-workers", "0", "--model", "linear", "--progress", "none",
        "--bootstrap", "0", "--fast-dev-run"]


def run_example(name: str) -> None:
    """Execute an example file, as importing it from its place would (not kept in ``sys.modules``)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


@pytest.fixture
def registries():
    """The examples register into the package's dicts; other tests must not see their entries."""
    sources, losses = dict(SOURCES), dict(LOSSES)
    yield
    SOURCES.clear()
    SOURCES.update(sources)
    LOSSES.clear()
    LOSSES.update(losses)


def test_data_source_example_is_found_by_name_and_gives_its_sample_table(registries, tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_HOME_ENV, str(tmp_path / "data"))
    run_example("my_data_source")
    table, duplicates = load_samples(DataSpec("two_shapes"))
    assert table.classes == ["dark", "light"] and len(table.samples) == 32 and not table.presplit
    assert duplicates == [] and all((table.root / path).is_file() for path in table.samples["path"])
    assert image_root(DataSpec("two_shapes")) == table.root == tmp_path / "data" / "two_shapes"
    with pytest.raises(UserError, match="'two_shapes' is registered twice"):
        run_example("my_data_source")


def test_loss_example_is_cross_entropy_at_epsilon_zero(registries):
    run_example("my_loss")
    logits, labels = torch.randn(6, 3, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 0, 1, 2])
    cross_entropy = build_loss("ce", label_smoothing=0.1)(logits, labels)
    torch.testing.assert_close(build_loss("poly1", label_smoothing=0.1, poly_epsilon=0.0)(logits, labels),
                               cross_entropy)
    assert build_loss("poly1", label_smoothing=0.1, poly_epsilon=2.0, focal_gamma=5.0)(logits, labels) > cross_entropy


def run_example_script(name: str, *args: str, cwd) -> subprocess.CompletedProcess:
    """``python docs/examples/<name>.py ...``: the example registers its entry, then runs train.py's entry point."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), DATA_HOME_ENV: str(cwd / "data")}
    return subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), *args, *TINY], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_data_source_example_trains_by_name(tmp_path):
    result = run_example_script("my_data_source", "--data", "two_shapes", "--name", "source", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    splits = pd.read_csv(tmp_path / "runs" / "source" / "splits.csv")
    assert len(splits) == 32 and set(splits["class"]) == {"dark", "light"}


def test_loss_example_trains_with_its_flag(tmp_path):
    data = make_class_folder(tmp_path / "shapes", {"circle": 8, "square": 8})
    result = run_example_script("my_loss", "--data", str(data), "--loss", "poly1", "--poly-epsilon", "2", "--name",
                                "loss", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    config = yaml.safe_load((tmp_path / "runs" / "loss" / "config.yaml").read_text())
    assert (config["loss"], config["poly_epsilon"], config["focal_gamma"]) == ("poly1", 2.0, 2.0)


def test_logger_and_callback_examples_run_by_import_path(tmp_path, monkeypatch):
    data = make_class_folder(tmp_path / "shapes", {"circle": 8, "square": 8})
    seen = tmp_path / "seen.json"
    monkeypatch.syspath_prepend(str(EXAMPLES))  # as PYTHONPATH=docs/examples would
    result = run_main("train.py", "--data", str(data), "--name", "plugins", "--logger", "csv",
                      'my_logger:JsonLinesLogger:{"file_name": "log.jsonl"}',
                      "--callbacks", f'my_callback:ImagesSeen:{{"out": "{seen}"}}', *TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    # the logger was given the run folder as save_dir, its keyword argument, and the run's settings
    records = [json.loads(line) for line in (tmp_path / "runs" / "plugins" / "log.jsonl").read_text().splitlines()]
    assert records[0]["hyperparams"]["data"] == str(data)
    assert json.loads(seen.read_text())["images"] > 0


NOT_A_LOGGER = "class NotALogger:\n    pass\n"


def test_every_logger_name_the_flag_offers_has_a_builder():
    assert set(BUILTIN_LOGGERS) | {"none"} == set(LOGGERS)


@pytest.mark.parametrize("spec, message", [
    ("no_such_module:Thing", "--logger 'no_such_module:Thing': cannot import no_such_module"),
    ("not_a_logger:NotALogger", "not_a_logger.NotALogger is not a Lightning Logger class"),
    ("not_a_logger:Missing", "not_a_logger has no Missing"),
    ("not_a_logger:NotALogger:[1]", "the keyword arguments must be a JSON object"),
    ("jsonl", "--logger: unknown value 'jsonl'"),
])
def test_a_bad_logger_stops_with_one_line_before_training(spec, message, tmp_path, monkeypatch, capsys):
    (tmp_path / "not_a_logger.py").write_text(NOT_A_LOGGER)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert main(["--num-workers", "0", "--logger", "csv", spec]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(re.escape(message), err), err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "data").exists()
