"""The evaluation's numbers against scikit-learn (or plain numpy) on known probabilities: threshold-free metrics with
ties and an absent class, the operating threshold and its metrics, temperature scaling, bootstrap, slices."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from litcls.config import MONITORS
from litcls.errors import UserError
from litcls.evaluation.bootstrap import bootstrap_intervals, replicate_weights, weighted_auroc, weighted_macro_f1
from litcls.evaluation.calibration import calibration_metrics, fit_temperature, nll
from litcls.evaluation.metrics import METRICS, build_metrics, curve_thresholds, metric_specs
from litcls.evaluation.slices import slice_metrics
from litcls.evaluation.threshold import choose_threshold, parse_rule, point_metrics, positive_label
from litcls.evaluation.writer import per_class_scores
from litcls.tracking.loggers import monitors


def known_probabilities(rows=120, classes=4, absent=None, seed=0, ties=True):
    """Probabilities rounded to 0.05 (so that many scores tie), float32 values as the module computes them;
    ``absent`` is a class no image belongs to."""
    rng = np.random.default_rng(seed)
    present = [label for label in range(classes) if label != absent]
    labels = rng.choice(present, rows)
    logits = rng.normal(size=(rows, classes))
    logits[np.arange(rows), labels] += 1.5
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if ties:
        probabilities = np.round(probabilities / 0.05) * 0.05
    return labels, probabilities.astype(np.float32).astype(np.float64)


def table_metrics(labels, probabilities, prefix="test/"):
    metrics = build_metrics(probabilities.shape[1], "test", prefix=prefix)
    metrics.update(torch.tensor(probabilities, dtype=torch.float32), torch.tensor(labels))
    return {key: float(value) for key, value in metrics.compute().items()}


def numpy_ece(labels, probabilities, bins=15):
    """Sum over confidence bins of |accuracy - mean confidence| x share of images, with torchmetrics' bins: edges
    torch.linspace(0, 1, 16) in float32, an edge belonging to the bin above it, a confidence of 1 counted apart."""
    confidence, predicted = probabilities.max(axis=1).astype(np.float32), probabilities.argmax(axis=1)
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float32).numpy()
    index = np.searchsorted(edges, confidence, side="right") - 1
    return sum(abs((predicted[index == b] == labels[index == b]).mean() - confidence[index == b].mean())
               * (index == b).mean() for b in range(bins + 1) if (index == b).any())


@pytest.mark.parametrize("absent", [None, 2])
def test_threshold_free_metrics_equal_scikit_learn_with_ties_and_an_absent_class(absent):
    labels, probabilities = known_probabilities(absent=absent)
    metrics = table_metrics(labels, probabilities)
    present = [label for label in range(4) if label != absent]
    auroc = [roc_auc_score(labels == k, probabilities[:, k]) for k in present]
    ap = [average_precision_score(labels == k, probabilities[:, k]) for k in present]
    assert metrics["test/auroc"] == pytest.approx(np.mean(auroc), abs=1e-6)
    assert metrics["test/ap"] == pytest.approx(np.mean(ap), abs=1e-6)
    assert metrics["test/ece"] == pytest.approx(numpy_ece(labels, probabilities), abs=1e-6)
    assert "test/acc_top5" not in metrics  # four classes: top-5 accuracy would always be 1

    per_class = per_class_scores(labels, probabilities)
    for name, expected in (("auroc", auroc), ("ap", ap)):
        assert per_class[name][present] == pytest.approx(expected, abs=1e-6)
        assert np.isnan(per_class[name][absent]) if absent is not None else True


def test_top5_accuracy_with_more_than_five_classes():
    labels, probabilities = known_probabilities(rows=200, classes=8, ties=False)
    top5 = np.argsort(-probabilities, axis=1, kind="stable")[:, :5]
    assert table_metrics(labels, probabilities)["test/acc_top5"] == pytest.approx(
        np.mean([label in row for label, row in zip(labels, top5, strict=True)]), abs=1e-6)


def test_each_metric_of_the_collection_equals_the_metric_alone():
    """A first batch without mistakes once made torchmetrics merge top-5 accuracy and macro F1 into one state."""
    labels, probabilities = known_probabilities(rows=300, classes=10, ties=False)
    probabilities[:64] = np.eye(10)[labels[:64]] * 0.9 + 0.01  # the first batch: all correct
    metrics = build_metrics(10, "test")
    for start in range(0, 300, 64):
        metrics.update(torch.tensor(probabilities[start:start + 64], dtype=torch.float32),
                       torch.tensor(labels[start:start + 64]))
    for name, value in metrics.compute().items():
        alone = build_metrics(10, "test")[name]
        alone.update(torch.tensor(probabilities, dtype=torch.float32), torch.tensor(labels))
        assert float(value) == pytest.approx(float(alone.compute()), abs=1e-6), name
    assert float(metrics.compute()["f1_macro"]) == pytest.approx(
        f1_score(labels, probabilities.argmax(axis=1), average="macro"), abs=1e-6)


def test_large_splits_switch_the_curve_metrics_to_fixed_thresholds():
    assert curve_thresholds(10_000, 100) is None  # a million probabilities: exact
    assert curve_thresholds(1_000_000, 1000) == 1001  # a billion: fixed thresholds, memory independent of images
    labels, probabilities = known_probabilities(rows=500, classes=3, ties=False)
    exact, binned = build_metrics(3, "test"), build_metrics(3, "test", thresholds=1001)
    for metrics in (exact, binned):
        metrics.update(torch.tensor(probabilities, dtype=torch.float32), torch.tensor(labels))
    assert float(binned.compute()["auroc"]) == pytest.approx(float(exact.compute()["auroc"]), abs=2e-3)


def test_the_metric_table_drives_monitor_choices_and_w_and_b_summaries():
    assert MONITORS == monitors() and MONITORS["val/loss"] == "min" and MONITORS["val/ece"] == "min"
    assert {f"val/{spec.name}" for spec in METRICS} == set(MONITORS) - {"val/loss"}
    assert [spec.name for spec in metric_specs(10, "train")] == ["acc", "f1_macro", "f1_micro"]
    assert {"auroc", "ap", "ece", "acc_top5"} <= {spec.name for spec in metric_specs(10, "val")}


@pytest.mark.parametrize("rule", ["youden", "f1", "sensitivity=0.9", "specificity=0.8"])
def test_threshold_rule_picks_the_operating_point_scikit_learn_finds_by_brute_force(rule):
    labels, probabilities = known_probabilities(rows=150, classes=2, seed=3)
    scores, positive = probabilities[:, 1], labels == 1
    threshold, note = choose_threshold(scores, positive, parse_rule(rule))
    assert note == "" and threshold not in set(scores)  # midway between two validation scores

    def quality(t):
        called = scores >= t
        sens, spec = recall_score(positive, called), recall_score(~positive, ~called)
        return {"youden": sens + spec - 1, "f1": f1_score(positive, called),
                "sensitivity=0.9": spec if sens >= 0.9 else -1, "specificity=0.8": sens if spec >= 0.8 else -1}[rule]

    candidates = np.unique(scores)
    best = max(quality(t) for t in candidates)
    assert quality(threshold) == pytest.approx(best)
    highest_best = max(t for t in candidates if quality(t) == pytest.approx(best))
    assert ((scores >= threshold) == (scores >= highest_best)).all()  # the same calls; ties: fewest positives


def test_point_metrics_equal_scikit_learn_and_undefined_ones_are_nan():
    labels, probabilities = known_probabilities(rows=90, classes=2, seed=5)
    positive, called = labels == 1, probabilities[:, 1] >= 0.4
    metrics = point_metrics(probabilities[:, 1], positive, 0.4)
    assert metrics["sensitivity"] == pytest.approx(recall_score(positive, called))
    assert metrics["specificity"] == pytest.approx(recall_score(~positive, ~called))
    assert metrics["ppv"] == pytest.approx(precision_score(positive, called))
    assert metrics["npv"] == pytest.approx(precision_score(~positive, ~called))
    assert metrics["f1_at_threshold"] == pytest.approx(f1_score(positive, called))
    assert np.isnan(point_metrics(probabilities[:, 1], positive, 1.5)["ppv"])  # nothing called positive


@pytest.mark.parametrize("text, message", [
    ("sensitivity=2", r"sensitivity to keep must be in \(0, 1\), got 2"),
    ("specificity=x", r"'x' after 'specificity=' is not a number"),
    ("median", r"unknown rule 'median'; valid rules: youden, f1, sensitivity=X, specificity=X"),
])
def test_malformed_rules_are_refused_with_the_valid_forms(text, message):
    with pytest.raises(UserError, match=message):
        parse_rule(text)


def test_positive_class_defaults_to_the_second_and_is_refused_for_more_classes():
    assert positive_label(None, None, ["benign", "malignant"]) == 1
    assert positive_label("benign", "f1", ["benign", "malignant"]) == 0
    assert positive_label(None, None, ["a", "b", "c"]) is None
    with pytest.raises(UserError, match="no class 'tumour'; the classes are benign, malignant"):
        positive_label("tumour", None, ["benign", "malignant"])
    with pytest.raises(UserError, match="--threshold-rule: only for two-class tasks, and the data has 3 classes"):
        positive_label(None, "youden", ["a", "b", "c"])


def test_temperature_scaling_lowers_the_validation_nll_of_an_over_confident_model():
    rng = np.random.default_rng(1)
    calibrated = rng.normal(size=(1000, 3)) * 1.5
    truth = np.exp(calibrated) / np.exp(calibrated).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(3, p=row) for row in truth])  # drawn from the calibrated probabilities
    logits = 6 * calibrated  # the same ranking, six times too sure of itself
    temperature, note = fit_temperature(logits, labels)
    assert note == "" and temperature == pytest.approx(6, rel=0.2)
    after = calibration_metrics(logits, labels, temperature)
    assert after["nll_calibrated"] < after["nll"] and after["ece_calibrated"] < after["ece"]
    assert nll(logits, labels, temperature) == pytest.approx(after["nll_calibrated"])
    for other in (temperature * 0.8, temperature * 1.25):  # a minimum
        assert nll(logits, labels, other) > after["nll_calibrated"]
    separable = np.eye(3)[labels] * 5
    assert fit_temperature(separable, labels) == (1.0, pytest.approx(fit_temperature(separable, labels)[1]))
    assert "every validation image is classified correctly" in fit_temperature(separable, labels)[1]


def test_bootstrap_replicates_equal_scikit_learn_on_the_resampled_images_and_are_seeded():
    labels, probabilities = known_probabilities(rows=80, classes=3, seed=2)
    weights = replicate_weights(80, 4, np.random.default_rng(0))
    for row in weights:
        drawn = np.repeat(np.arange(80), row.astype(int))
        for label in range(3):
            assert weighted_auroc(row[None], probabilities[:, label], labels == label)[0] == pytest.approx(
                roc_auc_score(labels[drawn] == label, probabilities[drawn, label]))
        assert weighted_macro_f1(row[None], labels, probabilities.argmax(axis=1), 3)[0] == pytest.approx(
            f1_score(labels[drawn], probabilities[drawn].argmax(axis=1), average="macro"))
    first = bootstrap_intervals(labels, probabilities, 200, seed=7)
    assert first == bootstrap_intervals(labels, probabilities, 200, seed=7)
    accuracy = (probabilities.argmax(axis=1) == labels).mean()
    assert first["acc"][0] < accuracy < first["acc"][1]


def test_group_bootstrap_draws_whole_groups():
    groups = np.repeat(["p1", "p2", "p3", "p4"], [3, 1, 4, 2])
    weights = replicate_weights(10, 50, np.random.default_rng(0), groups)
    for name in np.unique(groups):
        members = weights[:, groups == name]
        assert (members == members[:, :1]).all()  # every image of a group drawn as often as the group
    assert set(np.unique(weights)) <= {0, 1, 2, 3, 4}


def test_slices_report_accuracy_and_macro_f1_per_group_worst_first():
    table = pd.DataFrame({"class": list("aabbab"), "predicted": list("abbaba"), "group": ["h1"] * 3 + ["h2"] * 3})
    table["correct"] = table["class"] == table["predicted"]
    slices = slice_metrics(table, "group").set_index("value")
    assert list(slices.index) == ["h2", "h1"]  # every image of h2 wrong: it holds three of the four errors
    assert slices.loc["h2", "errors"] == 3 and slices.loc["h2", "share_of_errors"] == pytest.approx(3 / 4)
    part = table[table["group"] == "h1"]
    assert slices.loc["h1", "f1_macro"] == pytest.approx(f1_score(part["class"], part["predicted"], average="macro"))
    assert confusion_matrix(part["class"], part["predicted"]).trace() / 3 == pytest.approx(slices.loc["h1", "accuracy"])
