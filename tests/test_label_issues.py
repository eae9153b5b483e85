"""Suspected label errors of a k-fold run: label_issues.csv from the out-of-fold predictions (cleanlab), its
thumbnails on the report page, rebuilt by --aggregate."""

import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import make_class_folder
from litcls.config import TrainConfig
from litcls.evaluation.label_issues import COLUMNS, find_label_issues
from litcls.runs.crossval import aggregate
from litcls.runs.dispatch import train

CLASSES = ["red", "green", "blue"]


def test_wrong_labels_rank_first_with_the_class_they_belong_to():
    rng = np.random.default_rng(0)
    true = np.repeat([0, 1, 2], 30)
    probabilities = rng.dirichlet([1, 1, 1], size=len(true)) * 0.3
    probabilities[np.arange(len(true)), true] += 0.7  # a model that is right with 0.7 to 1.0
    given = true.copy()
    flipped = np.array([3, 40, 77, 88])
    given[flipped] = (true[flipped] + 1) % 3
    probabilities[flipped] = np.eye(3)[true[flipped]] * 0.9 + 0.1 / 3  # sure of the true class, out of fold
    probabilities[flipped[0], given[flipped[0]]] += 0.01  # and least sure of the first one
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    oof = pd.DataFrame({"path": [f"img_{i:02d}.png" for i in range(len(true))], "label": given,
                        "group": [f"patient_{i // 2}" for i in range(len(true))]})
    for index, name in enumerate(CLASSES):
        oof[f"prob_{name}"] = probabilities[:, index]
    issues = find_label_issues(oof, CLASSES)
    assert list(issues.columns) == [*COLUMNS, "group"]
    assert set(issues["path"][:4]) == {f"img_{i:02d}.png" for i in flipped} and len(issues) <= 6
    assert list(issues["rank"]) == list(range(1, len(issues) + 1))
    assert issues["given_probability"].is_monotonic_increasing  # self-confidence, least confident first
    first = issues.set_index("path").loc[[f"img_{i:02d}.png" for i in flipped]]
    assert list(first["suggested_class"]) == [CLASSES[t] for t in true[flipped]]
    assert list(first["given_class"]) == [CLASSES[g] for g in given[flipped]]
    assert list(first["group"]) == [f"patient_{i // 2}" for i in flipped]


@pytest.fixture(scope="module")
def flipped_run(tmp_path_factory):
    """A 3-fold run on three colour classes of 20 images, where 3 images sit in the folder of a wrong class."""
    tmp_path = tmp_path_factory.mktemp("label_issues")
    data = make_class_folder(tmp_path / "colours", dict.fromkeys(CLASSES, 20))
    moved = []
    for source, target in (("red", "green"), ("green", "blue"), ("blue", "red")):
        image = sorted((data / source).iterdir())[0]
        shutil.move(image, data / target / f"was_{source}.png")
        moved.append(f"{target}/was_{source}.png")
    config = TrainConfig.of(data=str(data), model="linear", img_size=8, batch_size=8, epochs=8, lr=0.02, folds=3,
                            test_size=0, num_workers=0, logger=["none"], bootstrap=0, gradcam_per_class=0,
                            gradcam_mistakes=0, out_dir=str(tmp_path / "runs"), accelerator="cpu").validate()
    return train(config.replace(name="flipped")), moved


def test_a_kfold_run_ranks_the_flipped_images_first(flipped_run):
    run, moved = flipped_run
    issues = pd.read_csv(run / "label_issues.csv", keep_default_na=False)
    assert set(issues["path"][:3]) == set(moved), issues.head(6)
    assert dict(zip(issues["path"][:3], issues["suggested_class"][:3], strict=True)) == {
        path: path.split("was_")[1].removesuffix(".png") for path in moved}
    thumbnails = sorted(path.name for path in (run / "label_issues").iterdir())
    assert thumbnails[:3] == ["rank_001.png", "rank_002.png", "rank_003.png"]
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "Suspected label errors" in page and page.count("<figure>") == len(thumbnails)


def test_aggregate_rebuilds_the_label_issues(flipped_run, capsys):
    run, _ = flipped_run
    before = (run / "label_issues.csv").read_text()
    (run / "label_issues.csv").unlink()
    shutil.rmtree(run / "label_issues")
    aggregate(run)
    assert (run / "label_issues.csv").read_text() == before
    assert (run / "label_issues" / "rank_001.png").is_file()
    assert "label issues:" in capsys.readouterr().out
