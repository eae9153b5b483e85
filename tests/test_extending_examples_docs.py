"""The model and metric examples of docs/extending.md do what the page says, on a tiny folder, with the real CLI."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch
import yaml

from conftest import REPO, run_cli
from litcls.evaluation import metrics
from litcls.models import registry

EXAMPLES = REPO / "docs" / "examples"


def load_example(name: str):
    """Import docs/examples/<name>.py as a module (not as __main__: its run lines stay off)."""
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fast_run(script: str, folder: Path, tmp_path: Path, *flags: str) -> Path:
    """A --fast-dev-run of ``script`` on ``folder``; returns its run folder."""
    result = run_cli(script, "--data", str(folder), "--img-size", "16", "--num-workers", "0", "--fast-dev-run",
                     "--out-dir", str(tmp_path / "runs"), "--name", "example", *flags, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return tmp_path / "runs" / "example"


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made by a test go into a copy of the model registry, dropped afterwards."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_my_model_registers_a_builder_whose_head_is_its_last_linear(scratch_registry):
    load_example("my_model")
    spec = registry.get_model_spec("tiny_convnet")
    model = spec.build(num_classes=5).eval()
    with torch.no_grad():
        scores = model(torch.randn(2, 3, spec.input_size, spec.input_size))
    assert scores.shape == (2, 5)
    assert model.get_submodule(spec.head_name(model)).out_features == 5
    assert spec.description.startswith("Two 3x3 conv layers")


def test_my_model_trains_through_model(image_folder, tmp_path):
    run = fast_run("docs/examples/my_model.py", image_folder, tmp_path, "--model", "tiny_convnet")
    assert yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))["model"] == "tiny_convnet"
    assert "test/acc" in json.loads((run / "results.json").read_text(encoding="utf-8"))


def test_my_metric_row_has_the_table_shape_and_computes_macro_recall():
    row = load_example("my_metric").RECALL_MACRO
    assert isinstance(row, metrics.MetricSpec) and row.direction in ("max", "min")
    assert row.name not in {spec.name for spec in metrics.METRICS}
    metric = row.factory(3, None)
    metric.update(torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([0, 1, 1, 2, 2, 0]))
    assert metric.compute().item() == pytest.approx((1 / 2 + 1 / 2 + 2 / 2) / 3)


def test_the_documented_one_row_edit_equals_the_example_row():
    """The row the page and the example's docstring tell a reader to paste into metrics.py is valid there."""
    page = (REPO / "docs" / "extending.md").read_text(encoding="utf-8")
    documented = re.search(r'^\s*(MetricSpec\("recall_macro".*\)),$', page, re.MULTILINE)
    assert documented, "docs/extending.md no longer shows the recall_macro row"
    assert documented[1] in (EXAMPLES / "my_metric.py").read_text(encoding="utf-8")
    pasted = eval(documented[1], vars(metrics))  # evaluated where the edit puts it: inside metrics.py
    example = load_example("my_metric").RECALL_MACRO
    assert (pasted.name, pasted.direction, pasted.probabilities) == (example.name, example.direction, False)
    predicted, target = torch.tensor([0, 2, 1, 1]), torch.tensor([0, 1, 1, 2])
    assert pasted.factory(3, None)(predicted, target) == example.factory(3, None)(predicted, target)


def test_my_metric_is_logged_and_monitored(image_folder, tmp_path):
    run = fast_run("docs/examples/my_metric.py", image_folder, tmp_path, "--monitor", "val/recall_macro")
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert {"val/recall_macro", "test/recall_macro"} <= set(results)
    assert 0 <= results["test/recall_macro"] <= 1


def test_the_model_shown_on_the_page_is_the_example_file():
    page = (REPO / "docs" / "extending.md").read_text(encoding="utf-8")
    shown = re.search(r"```python\n(.*?def tiny_convnet.*?)```", page, re.DOTALL)
    assert shown, "docs/extending.md no longer shows tiny_convnet"
    assert shown[1] in (EXAMPLES / "my_model.py").read_text(encoding="utf-8")
