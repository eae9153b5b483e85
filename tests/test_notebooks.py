"""The notebooks in notebooks/: committed without outputs, and executed headless on tiny parameters.

Each notebook takes its settings from one cell tagged ``parameters`` (papermill's convention). The tests append
small values to that cell's source, run the notebook in a fresh kernel with nbclient, in a temporary working
folder and with ``$LITCLS_DATA_HOME`` in a temporary folder, so nothing is written into the repository.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from conftest import REPO, make_class_folder

NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = ("01_explore_dataset.ipynb", "02_train_and_evaluate.ipynb", "03_extend.ipynb")


def read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK_DIR / name, as_version=4)


def parameters_cell(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"expected one cell tagged 'parameters', found {len(tagged)}"
    assert tagged[0].cell_type == "code"
    return tagged[0]


def parameter_defaults(notebook: nbformat.NotebookNode) -> dict:
    """Name -> value of every assignment in the parameters cell (literals only, as papermill requires)."""
    body = ast.parse(parameters_cell(notebook).source).body
    assert all(isinstance(node, ast.Assign) for node in body), "the parameters cell may only assign literals"
    return {target.id: ast.literal_eval(node.value) for node in body for target in node.targets}


def set_parameters(notebook: nbformat.NotebookNode, **values) -> None:
    """Append ``NAME = value`` lines to the parameters cell; every name must already be a parameter there."""
    unknown = set(values) - set(parameter_defaults(notebook))
    assert not unknown, f"not parameters of this notebook: {sorted(unknown)}"
    cell = parameters_cell(notebook)
    cell.source += "\n\n# small values set by tests/test_notebooks.py\n" + "\n".join(
        f"{name} = {value!r}" for name, value in values.items())


def execute(notebook: nbformat.NotebookNode, work: Path, data_home: Path,
            monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel whose working folder is ``work``; a failing cell raises."""
    # The kernel is a new process: it inherits this environment, not pytest's sys.path.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("LITCLS_DATA_HOME", str(data_home))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # a non-interactive backend would draw no inline figure
    work.mkdir(parents=True, exist_ok=True)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(work)}}).execute()
    return notebook


def figures(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs)


def printed(notebook: nbformat.NotebookNode) -> str:
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.outputs if output.output_type == "stream")


def test_notebook_folder_holds_the_three_notebooks():
    assert sorted(path.name for path in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_clean(name):
    """No outputs or execution counts in git, one literal parameters cell that defaults to the digits."""
    notebook = read(name)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: a cell has outputs; clear them before committing"
            assert cell.execution_count is None, f"{name}: a cell has an execution count; clear outputs"
            assert "execution" not in cell.metadata, f"{name}: a cell has execution timings; clear outputs"
    assert parameter_defaults(notebook)["DATA"] == "digits"
    assert notebook.metadata.kernelspec.name == "python3"


def test_set_parameters_refuses_a_name_the_notebook_does_not_have():
    with pytest.raises(AssertionError, match="IMAGE_SIZE"):
        set_parameters(read("02_train_and_evaluate.ipynb"), IMAGE_SIZE=16)


@pytest.mark.slow
def test_explore_dataset_notebook_runs_on_the_digits(tmp_path, monkeypatch):
    notebook = read("01_explore_dataset.ipynb")
    set_parameters(notebook, IMG_SIZE=16, MAX_IMAGES=300, IMAGES_PER_CLASS=3, MAX_CLASSES_SHOWN=4, DRAWS=2)
    execute(notebook, tmp_path / "work", tmp_path / "data_home", monkeypatch)
    assert (tmp_path / "data_home" / "digits" / "7").is_dir()  # the default dataset, written under LITCLS_DATA_HOME
    assert "1797 images in 10 classes" in printed(notebook)
    assert figures(notebook) == 4  # class counts, sizes, sample grid, augmentation preview


@pytest.mark.slow
def test_explore_dataset_notebook_runs_on_a_presplit_folder_with_non_latin_class_names(tmp_path, monkeypatch):
    data = tmp_path / "pets"
    for split, count in (("train", 8), ("val", 3), ("test", 3)):
        make_class_folder(data / split, {"고양이": count, "dog": count}, size=12)
    notebook = read("01_explore_dataset.ipynb")
    set_parameters(notebook, DATA=str(data), IMG_SIZE=16, IMAGES_PER_CLASS=2, DRAWS=1, AUGMENT_PRESETS=["heavy"])
    execute(notebook, tmp_path / "work", tmp_path / "data_home", monkeypatch)
    assert "28 images in 2 classes (already split into train/val/test folders)" in printed(notebook)
    assert "고양이" in str(notebook.cells)  # the per-split table names the class
    assert figures(notebook) == 4


@pytest.mark.slow
def test_train_and_evaluate_notebook_runs_small(tmp_path, monkeypatch):
    data = make_class_folder(tmp_path / "shapes", {"circle": 12, "square": 12, "triangle": 12})
    notebook = read("02_train_and_evaluate.ipynb")
    set_parameters(notebook, DATA=str(data), IMG_SIZE=16, EPOCHS=1, BATCH_SIZE=8, NUM_WORKERS=0)
    execute(notebook, tmp_path / "work", tmp_path / "data_home", monkeypatch)
    run_dir = tmp_path / "work" / "runs" / "notebook-cnn"
    assert (run_dir / "results.json").is_file() and (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert figures(notebook) == 3  # learning curves, confusion matrix, Grad-CAM of the chosen images
    # the notebook's own predictions of the test split agree with the run's confusion matrix
    found = re.search(r"(\d+) of 6 test images misclassified \(the confusion matrix counts (\d+)\)", printed(notebook))
    assert found and found[1] == found[2]


@pytest.mark.slow
def test_extend_notebook_runs_small_and_registers_again_without_error(tmp_path, monkeypatch):
    data = make_class_folder(tmp_path / "shapes", {"circle": 12, "square": 12, "triangle": 12})
    notebook = read("03_extend.ipynb")
    set_parameters(notebook, DATA=str(data), IMG_SIZE=16, EPOCHS=1, BATCH_SIZE=8, NUM_WORKERS=0)
    registration = next(cell for cell in notebook.cells if "@register_model(" in cell.source)
    notebook.cells.append(new_code_cell(registration.source))  # a student re-running the cell in the same kernel
    execute(notebook, tmp_path / "work", tmp_path / "data_home", monkeypatch)
    runs = tmp_path / "work" / "runs"
    assert (runs / "compare-tiny_convnet" / "results.json").is_file()
    assert (runs / "compare-cnn" / "results.json").is_file()
    assert (tmp_path / "work" / "my_augment.yaml").is_file()
    assert "augment: my_augment.yaml" in (runs / "compare-tiny_convnet" / "config.yaml").read_text()
    assert "same split in both runs: True" in printed(notebook)
    assert figures(notebook) == 2  # augmentation draws, validation curves of both models
