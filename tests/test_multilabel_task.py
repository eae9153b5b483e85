"""The multi-label task's pieces against scikit-learn and plain definitions, on known probabilities with ties, a
label absent from the split and ignored (NaN) cells: the metric table's rows, the task's decisions and
likelihood, the masked losses (the asymmetric loss at gammas 0 is the binary cross-entropy) and multi-hot mixing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from litcls.errors import UserError
from litcls.evaluation.metrics import build_metrics, check_monitor
from litcls.recipe.losses import build_loss
from litcls.recipe.mixing import build_mixing
from litcls.tasks import task_for

TASK = task_for("multi_label")


def synthetic(seed: int = 0, images: int = 60, labels: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities rounded to one decimal (ties), targets with label 3 never positive and a fifth ignored."""
    rng = np.random.default_rng(seed)
    truth = (rng.random((images, labels)) < 0.4).astype(np.float32)
    probabilities = np.clip(truth * 0.3 + rng.random((images, labels)) * 0.7, 0, 1).round(1).astype(np.float32)
    truth[:, 3] = 0
    truth[rng.random((images, labels)) < 0.2] = np.nan
    return probabilities, truth


def scores(probabilities: np.ndarray, truth: np.ndarray, split_in: int = 1) -> dict[str, float]:
    """The metric table's multi-label rows, updated in ``split_in`` batches."""
    metrics = build_metrics(truth.shape[1], "val", prefix="val/", task="multi_label", sync_on_compute=False)
    for p, t in zip(np.array_split(probabilities, split_in), np.array_split(truth, split_in), strict=True):
        metrics.update(torch.from_numpy(p), TASK.metric_targets(torch.from_numpy(t)))
    return {key: float(value) for key, value in metrics.compute().items()}


def test_threshold_free_rows_match_scikit_learn_over_known_cells():
    probabilities, truth = synthetic()
    got = scores(probabilities, truth, split_in=3)
    known = ~np.isnan(truth)
    aurocs = [roc_auc_score(truth[known[:, j], j], probabilities[known[:, j], j]) for j in range(3)]
    aps = [average_precision_score(truth[known[:, j], j], probabilities[known[:, j], j]) for j in range(3)]
    assert got["val/auroc"] == pytest.approx(np.mean(aurocs), abs=1e-6)  # label 3 (no positive) left out
    assert got["val/ap"] == pytest.approx(np.mean(aps), abs=1e-6)
    assert got["val/auroc_micro"] == pytest.approx(roc_auc_score(truth[known], probabilities[known]), abs=1e-6)


def test_calls_at_half_match_scikit_learn_and_plain_definitions():
    probabilities, truth = synthetic(seed=1)
    got = scores(probabilities, truth, split_in=4)
    known = ~np.isnan(truth)
    called = probabilities >= 0.5  # 0.5 itself is a positive call
    per_label = [f1_score(truth[known[:, j], j], called[known[:, j], j], zero_division=np.nan) for j in range(4)]
    assert got["val/f1_macro"] == pytest.approx(np.nanmean(per_label), abs=1e-6)
    assert got["val/f1_micro"] == pytest.approx(f1_score(truth[known], called[known]), abs=1e-6)
    wrong = (called != (truth == 1)) & known
    assert got["val/hamming"] == pytest.approx(wrong.sum() / known.sum(), abs=1e-6)
    assert got["val/exact_match"] == pytest.approx((~wrong.any(axis=1)).mean(), abs=1e-6)
    per_image = []
    for row in range(len(truth)):
        k = known[row]
        t, c = truth[row, k] == 1, called[row, k]
        per_image.append(1.0 if not (t.any() or c.any()) else 2 * (t & c).sum() / (t.sum() + c.sum()))
    assert got["val/f1_samples"] == pytest.approx(np.mean(per_image), abs=1e-6)


def test_label_ece_is_the_binned_gap_of_each_label():
    probabilities, truth = synthetic(seed=2)
    got = scores(probabilities, truth)["val/ece"]
    expected = []
    for j in range(4):
        k = ~np.isnan(truth[:, j])
        p, t = probabilities[k, j].astype(np.float64), truth[k, j]
        bins = np.minimum(np.floor(p * 15), 14)
        expected.append(sum(abs(p[bins == b].sum() - t[bins == b].sum()) for b in np.unique(bins)) / k.sum())
    assert got == pytest.approx(np.mean(expected), abs=1e-6)


def test_task_decides_per_label_and_its_likelihood_leaves_ignored_cells_out():
    probabilities = np.array([[0.2, 0.7], [0.5, 0.4]])
    assert TASK.decide(probabilities).tolist() == [[0, 1], [1, 0]]
    assert TASK.decide(probabilities, {1: 0.75}).tolist() == [[0, 0], [1, 0]]
    assert TASK.explained(probabilities) == [[1], [0]]
    logits = np.array([[2.0, -1.0], [0.5, 3.0]])
    truth = np.array([[1.0, np.nan], [0.0, 1.0]])
    expected = np.mean([math.log1p(math.exp(-2.0)), math.log1p(math.exp(0.5)), math.log1p(math.exp(-3.0))])
    assert TASK.nll(logits, truth) == pytest.approx(expected)
    assert not TASK.all_correct(logits, truth) and TASK.all_correct(logits, np.array([[1.0, np.nan], [1.0, 1.0]]))


def test_masked_losses_ignore_nan_cells_and_asl_at_gammas_zero_is_bce():
    torch.manual_seed(0)
    logits = torch.randn(8, 3, requires_grad=True)
    targets = (torch.rand(8, 3) < 0.4).float()
    targets[0, 1] = targets[5, 2] = float("nan")
    bce = build_loss("ce", task="multi_label")(logits, targets)
    known = ~targets.isnan()
    reference = torch.nn.functional.binary_cross_entropy_with_logits(logits[known], targets[known])
    assert float(bce.detach()) == pytest.approx(float(reference.detach()), abs=1e-6)
    asl = build_loss("asl", task="multi_label", asl_gamma_neg=0, asl_gamma_pos=0, asl_clip=0)(logits, targets)
    assert float(asl.detach()) == pytest.approx(float(bce.detach()), abs=1e-6)
    bce.backward()
    assert logits.grad[0, 1] == 0 and logits.grad[5, 2] == 0 and logits.grad.abs().sum() > 0
    weighted = build_loss("ce", [2.0, 1.0, 1.0], task="multi_label")(logits, targets)
    assert float(weighted.detach()) > float(bce.detach())  # label 0's positives count twice
    default_asl = build_loss("asl", task="multi_label")(logits, targets)
    assert float(default_asl.detach()) < float(bce.detach())  # easy negatives down-weighted
    with pytest.raises(UserError, match="--loss asl: not for a single-label task"):
        build_loss("asl")


def test_multi_hot_mixing_mixes_targets_by_the_share_of_pixels():
    torch.manual_seed(0)
    images = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 3, 8, 8).clone()
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, float("nan")], [0.0, 0.0]])
    for mixup, cutmix in ((0.4, 0.0), (0.0, 1.0)):
        mixed_images, mixed = build_mixing(mixup, cutmix, 2, multi_hot=True)(images, targets)
        own = (mixed_images == images).float().mean(dim=(1, 2, 3)) if cutmix else None
        lam = float(mixed[0, 0])  # image 0 (target 1) mixed with image 3 (target 0)
        if own is not None:
            assert lam == pytest.approx(float(own[0]))
        assert float(mixed[1, 0]) == pytest.approx(1 - lam) and float(mixed[1, 1]) == pytest.approx(lam)
        assert math.isnan(float(mixed[2, 1])) and math.isnan(float(mixed[3, 1]))  # ignored stays ignored


def test_monitor_must_fit_the_task():
    check_monitor("val/auroc", 4, "multi_label")
    with pytest.raises(UserError, match="not computed for a multi-label task"):
        check_monitor("val/acc", 4, "multi_label")
    with pytest.raises(UserError, match="not computed for a single-label task"):
        check_monitor("val/exact_match", 4)


def test_label_thresholds_follow_the_rule_on_known_cells_and_leave_undefined_labels_at_half():
    from litcls.evaluation.multilabel import label_thresholds
    from litcls.evaluation.threshold import choose_threshold, parse_rule

    probabilities, truth = synthetic(seed=3)
    thresholds, notes = label_thresholds(probabilities, truth, parse_rule("f1"), ["a", "b", "c", "d"])
    known = ~np.isnan(truth[:, 1])
    assert thresholds[1] == choose_threshold(probabilities[known, 1], truth[known, 1] == 1, parse_rule("f1"))[0]
    assert thresholds[3] == 0.5 and len(notes) == 1 and "'d'" in notes[0]


def test_label_report_and_prediction_table_agree_with_scikit_learn():
    import pandas as pd

    from litcls.evaluation.multilabel import calls_metrics, label_report, prediction_table

    probabilities, truth = synthetic(seed=4)
    names, thresholds = ["a", "b", "c", "d"], [0.5, 0.4, 0.6, 0.5]
    report = label_report(probabilities, truth, thresholds, names).set_index("class")
    for j, name in enumerate(names[:3]):
        k = ~np.isnan(truth[:, j])
        assert report.loc[name, "auroc"] == pytest.approx(roc_auc_score(truth[k, j], probabilities[k, j]))
        assert report.loc[name, "f1"] == pytest.approx(f1_score(truth[k, j], probabilities[k, j] >= thresholds[j]))
        assert report.loc[name, "support"] == k.sum()
    assert np.isnan(report.loc["d", "auroc"]) and report.loc["d", "positives"] == 0
    assert report.loc["macro avg", "auroc"] == pytest.approx(report.loc[names[:3], "auroc"].mean())
    assert report.loc["micro avg", "f1"] == pytest.approx(calls_metrics(probabilities, truth, thresholds)["f1_micro"])
    rows = pd.DataFrame({"path": [f"{i}.png" for i in range(len(truth))], "label": -1, "split": "test",
                         "group": "g", **{f"target:{n}": truth[:, j] for j, n in enumerate(names)}})
    table = prediction_table(rows, probabilities, names, thresholds, truth)
    assert list(table.columns[:9]) == ["path", *[f"prob_{n}" for n in names], *[f"pred_{n}" for n in names]]
    assert table["true_a"].isna().sum() == np.isnan(truth[:, 0]).sum() and "target:a" not in table
    assert (table["pred_b"] == (probabilities[:, 1] >= 0.4)).all() and (table["group"] == "g").all()


def test_multilabel_bootstrap_is_seeded_and_brackets_the_estimate():
    from litcls.evaluation.bootstrap import multilabel_intervals

    probabilities, truth = synthetic(seed=5, images=120)
    thresholds = np.full(4, 0.5)
    first = multilabel_intervals(truth, probabilities, thresholds, 200, seed=1)
    assert first == multilabel_intervals(truth, probabilities, thresholds, 200, seed=1)
    macro = scores(probabilities, truth)["val/auroc"]
    low, high = first["auroc"]
    assert low < macro < high


def _ddp_scores(rank: int, world: int, port: int, probabilities: np.ndarray, truth: np.ndarray, out: str) -> None:
    """One process of a gloo group: update the metric table's multi-label rows with this process's uneven share,
    compute (synced), and let rank 0 write the values."""
    import json
    import os

    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        share = np.array_split(np.arange(len(truth)), [len(truth) // 3])[rank]  # a third and two thirds
        metrics = build_metrics(truth.shape[1], "val", prefix="val/", task="multi_label")
        metrics.update(torch.from_numpy(probabilities[share]), TASK.metric_targets(torch.from_numpy(truth[share])))
        values = {key: float(value) for key, value in metrics.compute().items()}
        if rank == 0:
            with open(out, "w", encoding="utf-8") as file:
                json.dump(values, file)
    finally:
        dist.destroy_process_group()


def test_two_ddp_processes_compute_the_single_process_metrics(tmp_path):
    import json
    import socket

    import torch.multiprocessing as mp

    probabilities, truth = synthetic(seed=6, images=61)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "ddp.json"
    mp.spawn(_ddp_scores, args=(2, port, probabilities, truth, str(out)), nprocs=2, join=True)
    synced = json.loads(out.read_text(encoding="utf-8"))
    single = scores(probabilities, truth)
    assert synced.keys() == single.keys()
    for key, value in single.items():
        assert synced[key] == pytest.approx(value, abs=1e-6), key
