"""Two-class tasks: the operating threshold, chosen on the validation split only, and the metrics at it.

An image is called positive when its probability of the positive class is at least the threshold (the convention
of scikit-learn's ``roc_curve``). A rule picks one validation operating point among the distinct validation scores
(among candidates that score equally, the highest threshold: fewest positive calls); every threshold between that
score and the next lower validation score gives the same validation calls, and the threshold is placed midway
between the two, as far as possible from both (with perfectly separated classes, midway between the lowest
positive and the highest negative score, not at the edge of either). The rules:

* ``youden``: maximise sensitivity + specificity - 1 (Youden's J);
* ``f1``: maximise the F1 score of the positive class;
* ``sensitivity=X``: the highest threshold whose sensitivity is at least X (the best specificity that keeps it);
* ``specificity=X``: the lowest threshold whose specificity is at least X (the best sensitivity that keeps it).

The threshold is then frozen and applied to the test split, whose images never influence it.
Parsing a rule imports nothing heavy, so the configuration can check it before anything else runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from litcls.errors import UserError
from litcls.suggest import did_you_mean

RULE_NAMES = ("youden", "f1", "sensitivity=X", "specificity=X")
DEFAULT_RULE = "youden"
# below this many validation images of either class, one image more or less moves the threshold visibly
FEW_IMAGES = 10


@dataclass(frozen=True)
class ThresholdRule:
    """A parsed ``--threshold-rule``: ``kind`` is youden, f1, sensitivity or specificity; ``target`` the X."""

    kind: str
    target: float | None = None

    def __str__(self) -> str:
        return self.kind if self.target is None else f"{self.kind}={self.target:g}"


def parse_rule(text: str) -> ThresholdRule:
    """``youden``, ``f1``, ``sensitivity=0.95`` or ``specificity=0.9`` -> a rule.

    Raises:
        UserError: anything else, with the valid forms.
    """
    valid = f"valid rules: {', '.join(RULE_NAMES)} with X in (0, 1), e.g. sensitivity=0.95"
    name, _, value = text.strip().partition("=")
    if name in ("youden", "f1") and not value:
        return ThresholdRule(name)
    if name in ("sensitivity", "specificity"):
        try:
            target = float(value)
        except ValueError:
            raise UserError(f"--threshold-rule {text}: {repr(value) if value else 'nothing'} after '{name}=' is not "
                            f"a number; {valid}") from None
        if not 0 < target < 1:
            raise UserError(f"--threshold-rule {text}: the {name} to keep must be in (0, 1), got {value}; {valid}")
        return ThresholdRule(name, target)
    near = did_you_mean(name, ("youden", "f1", "sensitivity", "specificity"))
    raise UserError(f"--threshold-rule: unknown rule {text!r}{near}; {valid}")


def choose_threshold(scores: Any, positive: Any, rule: ThresholdRule) -> tuple[float, str]:
    """The threshold ``rule`` picks on validation ``scores`` (probability of the positive class) with true
    ``positive`` flags, and a note ('' unless the rule could not be met as asked).

    Raises:
        UserError: the images hold only one of the two classes, so no threshold can be chosen.
    """
    import numpy as np
    from sklearn.metrics import roc_curve

    scores, positive = np.asarray(scores, dtype=np.float64), np.asarray(positive, dtype=bool)
    positives, negatives = int(positive.sum()), int((~positive).sum())
    if not positives or not negatives:
        raise UserError(f"cannot choose an operating threshold: the validation split holds "
                        f"{positives} positive and {negatives} negative images; it needs both")
    fpr, tpr, thresholds = roc_curve(positive, scores, drop_intermediate=False)
    # index 0 is +inf (nothing called positive); then every distinct score, highest first
    tp, fp = np.rint(tpr * positives), np.rint(fpr * negatives)
    note = ""
    if rule.kind == "youden":
        index = 1 + int(np.argmax((tpr - fpr)[1:]))
    elif rule.kind == "f1":
        index = 1 + int(np.argmax((2 * tp / (tp + fp + positives))[1:]))
    elif rule.kind == "sensitivity":
        index = int(np.flatnonzero(tp >= math.ceil(rule.target * positives - 1e-9))[0])
    else:
        keeps = np.flatnonzero(negatives - fp >= math.ceil(rule.target * negatives - 1e-9))
        index = int(keeps[-1])
        if index == 0:
            note = (f"no validation score keeps specificity {rule.target:g} while calling any image positive; the "
                    "threshold lies above every validation score")
            highest = thresholds[1]
            return float((highest + 1) / 2 if highest < 1 else np.nextafter(1.0, 2.0)), note
    if index + 1 < len(thresholds):  # midway to the next lower score: the same validation calls, the widest margin
        return float((thresholds[index] + thresholds[index + 1]) / 2), note
    return float(thresholds[index]), note


def few_images_warning(positives: int, negatives: int, positive_class: str, negative_class: str,
                       minimum: int = FEW_IMAGES) -> str:
    """The warning for a threshold chosen on fewer than ``minimum`` validation images of either class ('' when both
    have enough): with 4 positives, each one moves the validation sensitivity by 25 points, and the threshold with
    it, so its test numbers may not hold on new images."""
    thin = [f"{count} {name!r}" for count, name in ((positives, positive_class), (negatives, negative_class))
            if count < minimum]
    if not thin:
        return ""
    return (f"the operating threshold rests on only {' and '.join(thin)} validation image"
            f"{'s' if positives + negatives != 1 else ''} (fewer than {minimum}), so its sensitivity and specificity "
            f"may not hold on new images; give validation more images: k-fold (--folds 5), a larger --val-size, or "
            f"--resplit-val where the data's own validation split is small")


def point_metrics(scores: Any, positive: Any, threshold: float) -> dict[str, float]:
    """Sensitivity, specificity, PPV, NPV and F1 of calling ``scores >= threshold`` positive (NaN if undefined)."""
    import numpy as np
    from sklearn.metrics import confusion_matrix

    from litcls.evaluation.two_class import two_class_metrics

    called = np.asarray(scores, dtype=np.float64) >= threshold
    tn, fp, fn, tp = confusion_matrix(np.asarray(positive, dtype=bool), called, labels=[False, True]).ravel()
    return {name: float(value) for name, value in two_class_metrics(tp, fp, fn, tn).items()}


def positive_label(positive_class: str | None, threshold_rule: str | None, classes: list[str]) -> int | None:
    """The label of a two-class task's positive class (default: the second class); None with more classes.

    Raises:
        UserError: an unknown ``--positive-class``, or a two-class flag on a task with more classes.
    """
    if len(classes) != 2:
        given = [flag for flag, value in (("--positive-class", positive_class), ("--threshold-rule", threshold_rule))
                 if value is not None]
        if given:
            raise UserError(f"{' and '.join(given)}: only for two-class tasks, and the data has {len(classes)} "
                            "classes; drop the flag and read each class's recall, AUROC and AP in "
                            "classification_report.csv, or train on a two-class folder (the class of interest against "
                            "the rest) to choose an operating threshold")
        return None
    if positive_class is None:
        return 1
    if positive_class not in classes:
        raise UserError(f"--positive-class: no class {positive_class!r}{did_you_mean(positive_class, classes)}; the "
                        f"classes are {', '.join(classes)}")
    return classes.index(positive_class)


def called_at_threshold(scores: Any, threshold: float, classes: list[str], positive: int) -> Any:
    """The ``predicted_at_threshold`` column: the positive class where its probability ``scores`` reaches
    ``threshold`` (the one-label case of the tasks' per-label thresholds), the other class elsewhere (the run's
    evaluation, the ensemble and predict.py write it alike)."""
    import numpy as np

    from litcls.tasks.base import called

    return np.where(called(np.asarray(scores, dtype=np.float64), threshold), classes[positive], classes[1 - positive])
