"""The confusion matrix and the per-class report against scikit-learn on known predictions."""

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from torchmetrics.classification import MulticlassConfusionMatrix, MulticlassF1Score

from litcls.report.classification import classification_report

NAMES = ["cat", "dog", "bird", "fish", "고양이"]


def _predictions(seed: int = 0):
    """Imbalanced labels; 'fish' (3) is never predicted, '고양이' (4) is neither present nor predicted."""
    rng = np.random.default_rng(seed)
    target = rng.choice(4, size=200, p=[0.6, 0.25, 0.1, 0.05])
    preds = np.where((rng.random(200) < 0.7) & (target != 3), target, rng.choice(3, size=200))
    return target, preds


def test_torchmetrics_confusion_matrix_matches_sklearn_in_batches():
    target, preds = _predictions()
    metric = MulticlassConfusionMatrix(len(NAMES))
    for start in range(0, len(target), 32):  # batches, as the callback sees them
        metric.update(torch.as_tensor(preds[start:start + 32]), torch.as_tensor(target[start:start + 32]))
    expected = confusion_matrix(target, preds, labels=range(len(NAMES)))
    np.testing.assert_array_equal(metric.compute().numpy(), expected)
    assert expected[:, 3].sum() == 0 and expected[4].sum() == 0  # the edge cases are really there


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_report_matches_sklearn_per_class_and_averaged(seed):
    target, preds = _predictions(seed)
    report = classification_report(confusion_matrix(target, preds, labels=range(len(NAMES))), NAMES)
    assert list(report["class"]) == [*NAMES, "macro avg", "micro avg", "weighted avg"]
    rows = report.set_index("class")

    precision, recall, f1, support = precision_recall_fscore_support(target, preds, labels=range(len(NAMES)),
                                                                     zero_division=0)
    np.testing.assert_allclose(rows.loc[NAMES, "precision"], precision)
    np.testing.assert_allclose(rows.loc[NAMES, "recall"], recall)
    np.testing.assert_allclose(rows.loc[NAMES, "f1"], f1)
    np.testing.assert_array_equal(rows.loc[NAMES, "support"], support)
    for average in ("macro", "micro", "weighted"):
        # without labels=, scikit-learn averages over the classes it sees, as the report does
        expected = precision_recall_fscore_support(target, preds, average=average, zero_division=0)[:3]
        np.testing.assert_allclose(rows.loc[f"{average} avg", ["precision", "recall", "f1"]], expected)
        assert rows.loc[f"{average} avg", "support"] == len(target)


def test_macro_and_micro_f1_match_the_logged_torchmetrics_values():
    target, preds = _predictions()
    report = classification_report(confusion_matrix(target, preds, labels=range(len(NAMES))), NAMES)
    rows = report.set_index("class")
    for average in ("macro", "micro"):
        logged = MulticlassF1Score(len(NAMES), average=average)(torch.as_tensor(preds), torch.as_tensor(target))
        assert rows.loc[f"{average} avg", "f1"] == pytest.approx(logged.item(), abs=1e-6)


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="for 3 classes"):
        classification_report(np.zeros((2, 2)), ["a", "b", "c"])
