"""The one suggestion mechanism: what a mistyped choice or path was probably meant to be."""

import pytest

from litcls.config import AUGMENT_PRESETS, MONITORS
from litcls.models.registry import list_models
from litcls.recipe.optim import OPTIMIZERS, SCHEDULERS
from litcls.suggest import closest, did_you_mean, did_you_mean_path, nearby_paths

MODELS = [spec.name for spec in list_models()]


@pytest.mark.parametrize(("value", "choices", "expected"), [
    ("val/accuracy", MONITORS, ["val/acc"]),  # a longer spelling, not the equally long val/auroc
    ("accuracy", MONITORS, ["val/acc", "val/acc_top5"]),  # a word of the name, the shared 'val' left out
    ("val/f1", MONITORS, ["val/f1_macro", "val/f1_micro", "val/f1_samples"]),  # f1_samples: multi-label
    ("f1_macro", MONITORS, ["val/f1_macro"]),
    ("val_loss", MONITORS, ["val/loss"]),  # separators do not count
    ("meduim", AUGMENT_PRESETS, ["medium"]),
    ("AdamW", OPTIMIZERS, ["adamw"]),
    ("cosin", SCHEDULERS, ["cosine"]),
    ("resnet81", MODELS, ["resnet18"]),  # a typo of one name, not every resnet
    ("Fashion-MNIST", ["digits", "mnist", "fashion_mnist", "cifar10"], ["fashion_mnist"]),
    ("rmsprop", OPTIMIZERS, []),
    ("vgg99", MODELS, []),
    ("", OPTIMIZERS, []),
])
def test_closest_prefers_prefix_and_containment_to_edit_distance(value, choices, expected):
    assert closest(value, choices) == expected


def test_did_you_mean_reads_as_part_of_a_sentence():
    assert did_you_mean("val/accuracy", MONITORS) == " (did you mean val/acc?)"
    assert did_you_mean("val/f1", MONITORS) == " (did you mean val/f1_macro, val/f1_micro or val/f1_samples?)"
    assert did_you_mean("resnet", MODELS).count(",") == 1  # three at most: "a, b or c"
    assert did_you_mean("zzz", MODELS) == ""


def test_a_missing_path_suggests_its_siblings_and_keeps_the_rest(tmp_path, monkeypatch):
    (tmp_path / "data" / "pets" / "train").mkdir(parents=True)
    (tmp_path / "data" / ".pet-cache").mkdir()
    (tmp_path / "groups.csv").write_text("path,group\n")
    monkeypatch.chdir(tmp_path)
    assert nearby_paths("data/pet") == ["data/pets"]  # hidden entries are not offered
    assert nearby_paths("data/pet/train") == ["data/pets/train"]
    (tmp_path / "labels.csv").write_text("path,label\n")
    assert nearby_paths(tmp_path / "grups.csv") == [str(tmp_path / "groups.csv")]  # '.csv' alone is no likeness
    assert did_you_mean_path("digit", ["digits", "mnist"]) == " (did you mean digits?)"
    assert did_you_mean_path("/no/such/root/at/all") == ""
    assert nearby_paths("elsewhere/entirely") == []
