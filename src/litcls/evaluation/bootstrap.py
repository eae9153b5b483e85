"""95% percentile-bootstrap intervals of the evaluated split's metrics, resampling images or whole groups.

A replicate draws the split's images (or, with ``--groups``, its groups: every image of a drawn group comes along)
with replacement, as many as there are, and recomputes the metrics; the interval is the 2.5th to 97.5th
percentile over the replicates. The draws are seeded, so the same run gives the same intervals. The model, the
temperature and the operating threshold stay fixed: the interval says how much the number would move on another
test sample of the same size, not on another training run.

A replicate is a vector of weights (how often each image was drawn), so every metric is a weighted sum computed
for all replicates at once with numpy; calling scikit-learn once per replicate and class would cost seconds per
run. The definitions match the point estimates: accuracy; macro F1 over the classes present or predicted; macro
AUROC one-vs-rest over the classes with positive and negative images (ties count one half); and the two-class
metrics at the operating threshold. A metric undefined in a replicate (no positive image drawn) is left out of
that metric's percentiles.
"""

from __future__ import annotations

import numpy as np

from litcls.evaluation.two_class import ratio, two_class_metrics
from litcls.tasks import SingleLabel

LEVEL = 0.95
CHUNK = 100  # replicates computed together: memory CHUNK x images


def replicate_weights(size: int, replicates: int, rng: np.random.Generator,
                      groups: np.ndarray | None = None) -> np.ndarray:
    """(replicates, size) draw counts: images drawn with replacement, or whole groups when ``groups`` is given."""
    if groups is None:
        return rng.multinomial(size, np.full(size, 1 / size), size=replicates).astype(np.float64)
    names, group_of = np.unique(groups, return_inverse=True)
    drawn = rng.multinomial(len(names), np.full(len(names), 1 / len(names)), size=replicates)
    return drawn[:, group_of].astype(np.float64)


def weighted_macro_f1(weights: np.ndarray, labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Macro F1 per replicate, over the classes present or predicted in it."""
    scores = []
    for label in range(classes):
        true, called = labels == label, predicted == label
        tp, support, calls = weights @ (true & called), weights @ true, weights @ called
        scores.append(ratio(2 * tp, support + calls))
    scores = np.stack(scores, axis=1)  # (R, C); NaN where neither present nor predicted
    seen = ~np.isnan(scores)
    return ratio(np.nansum(scores, axis=1), seen.sum(axis=1))


def weighted_auroc(weights: np.ndarray, scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """AUROC of ``scores`` for ``positive`` per replicate: the weighted share of (positive, negative) pairs ranked
    right, ties counting one half (the Mann-Whitney statistic); NaN without positives or negatives."""
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])  # one block per distinct score
    w = weights[:, order]
    pos = np.add.reduceat(w * positive[order], starts, axis=1)
    neg = np.add.reduceat(w * ~positive[order], starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg  # negative weight strictly below each block
    right = (pos * (below + 0.5 * neg)).sum(axis=1)
    return ratio(right, pos.sum(axis=1) * neg.sum(axis=1))


def bootstrap_intervals(labels: np.ndarray, probabilities: np.ndarray, replicates: int, seed: int,
                        groups: np.ndarray | None = None, positive: int | None = None,
                        threshold: float | None = None) -> dict[str, list[float]]:
    """[low, high] of ``acc``, ``f1_macro``, ``auroc`` and, for a two-class task with a threshold, the metrics at it.

    Args:
        labels: (N,) true labels.
        probabilities: (N, C) class probabilities.
        replicates: number of bootstrap replicates.
        seed: seeds the draws.
        groups: (N,) group of each image: whole groups are drawn.
        positive: label of the positive class (two-class tasks).
        threshold: operating threshold on the positive class's probability.
    """
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    classes = probabilities.shape[1]
    task = SingleLabel()
    predicted = task.decide(probabilities)
    correct = (predicted == labels).astype(np.float64)
    rng = np.random.default_rng(seed)
    values: dict[str, list[np.ndarray]] = {}
    for start in range(0, replicates, CHUNK):
        weights = replicate_weights(len(labels), min(CHUNK, replicates - start), rng, groups)
        total = weights.sum(axis=1)
        chunk = {"acc": ratio(weights @ correct, total),
                 "f1_macro": weighted_macro_f1(weights, labels, predicted, classes)}
        per_class = np.stack([weighted_auroc(weights, probabilities[:, label], labels == label)
                              for label in range(classes)], axis=1)
        defined = ~np.isnan(per_class)
        chunk["auroc"] = ratio(np.nansum(per_class, axis=1), defined.sum(axis=1))
        if positive is not None and threshold is not None:
            called = task.decide(probabilities, {positive: threshold}) == positive
            chunk |= _point_metrics(weights, labels == positive, called)
        for name, array in chunk.items():
            values.setdefault(name, []).append(array)
    return _percentiles(values)


def _percentiles(values: dict[str, list[np.ndarray]]) -> dict[str, list[float]]:
    """The interval of each metric's replicates (those where it is defined)."""
    tail = 100 * (1 - LEVEL) / 2
    intervals = {}
    for name, arrays in values.items():
        array = np.concatenate(arrays)
        array = array[~np.isnan(array)]
        intervals[name] = [float(v) for v in np.percentile(array, [tail, 100 - tail])] if len(array) else [None, None]
    return intervals


def _point_metrics(weights: np.ndarray, positive: np.ndarray, called: np.ndarray) -> dict[str, np.ndarray]:
    tp, fp = weights @ (positive & called), weights @ (~positive & called)
    fn, tn = weights @ (positive & ~called), weights @ (~positive & ~called)
    return two_class_metrics(tp, fp, fn, tn)


def multilabel_intervals(truth: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray, replicates: int,
                         seed: int, groups: np.ndarray | None = None) -> dict[str, list[float]]:
    """[low, high] of a multi-label split's macro ``auroc`` (over the labels defined in the replicate) and the
    ``f1_macro`` and ``f1_micro`` of the calls at the per-label ``thresholds``; ignored (NaN) cells weigh 0.

    Args:
        truth: (N, L) 1, 0 or NaN.
        probabilities: (N, L) per-label probabilities.
        thresholds: (L,) the frozen thresholds.
        replicates, seed, groups: as :func:`bootstrap_intervals`.
    """
    truth = np.asarray(truth, dtype=np.float64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    known = ~np.isnan(truth)
    positive = (truth == 1) & known
    called = probabilities >= np.asarray(thresholds, dtype=np.float64)
    rng = np.random.default_rng(seed)
    values: dict[str, list[np.ndarray]] = {}
    for start in range(0, replicates, CHUNK):
        weights = replicate_weights(len(truth), min(CHUNK, replicates - start), rng, groups)
        aurocs, f1s, counts = [], [], np.zeros((3, len(weights)))
        for label in range(truth.shape[1]):
            w = weights * known[:, label]
            aurocs.append(weighted_auroc(w, probabilities[:, label], positive[:, label]))
            tp = w @ (positive[:, label] & called[:, label])
            fp, fn = w @ (~positive[:, label] & called[:, label]), w @ (positive[:, label] & ~called[:, label])
            f1s.append(ratio(2 * tp, 2 * tp + fp + fn))
            counts += np.stack([tp, fp, fn])
        aurocs, f1s = np.stack(aurocs, axis=1), np.stack(f1s, axis=1)
        chunk = {"auroc": ratio(np.nansum(aurocs, axis=1), (~np.isnan(aurocs)).sum(axis=1)),
                 "f1_macro_at_thresholds": ratio(np.nansum(f1s, axis=1), (~np.isnan(f1s)).sum(axis=1)),
                 "f1_micro_at_thresholds": ratio(2 * counts[0], 2 * counts[0] + counts[1] + counts[2])}
        for name, array in chunk.items():
            values.setdefault(name, []).append(array)
    return _percentiles(values)
