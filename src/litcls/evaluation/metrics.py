"""The metric table: every metric a run reports, declared once.

One row per metric: its name (logged as ``<stage>/<name>``), the direction that is better (for ``--monitor`` and
the W&B summaries), whether it is threshold-free (computed from class probabilities; reported on validation, test
and k-fold out-of-fold predictions, not on training batches), and a torchmetrics factory. The LightningModule
builds every stage's metrics from this table; ``--monitor`` choices, W&B summaries, k-fold aggregation and
out-of-fold scoring follow from it. Adding a metric is one row.

Nothing here imports torch when the module is imported (a factory imports torchmetrics when it is called), so
the configuration and ``train.py --help`` stay fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

STAGES = ("train", "val", "test")


def _tm() -> Any:
    return importlib.import_module("torchmetrics.classification")


@dataclass(frozen=True)
class MetricSpec:
    """One row of the metric table.

    Attributes:
        name: logged as ``<stage>/<name>``.
        direction: ``max`` or ``min``, whichever is better.
        factory: ``(num_classes, thresholds, **options) -> torchmetrics.Metric``; ``thresholds`` is the number of
            fixed thresholds of curve metrics (None: exact), ``options`` go to the Metric constructor.
        probabilities: threshold-free, computed from class probabilities: validation and test only.
        min_classes: computed only for tasks with at least this many classes.
    """

    name: str
    direction: str
    factory: Callable[..., Any]
    probabilities: bool = False
    min_classes: int = 2


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("acc", "max", lambda n, t, **o: _tm().MulticlassAccuracy(n, average="micro", **o)),
    MetricSpec("f1_macro", "max", lambda n, t, **o: _tm().MulticlassF1Score(n, average="macro", **o)),
    MetricSpec("f1_micro", "max", lambda n, t, **o: _tm().MulticlassF1Score(n, average="micro", **o)),
)


def metric_specs(num_classes: int | None = None, stage: str = "val") -> tuple[MetricSpec, ...]:
    """The rows that apply to a stage (``train`` has no threshold-free metrics) and a number of classes."""
    return tuple(spec for spec in METRICS
                 if (stage != "train" or not spec.probabilities)
                 and (num_classes is None or num_classes >= spec.min_classes))


def monitors() -> dict[str, str]:
    """Every metric ``--monitor`` may watch -> the direction that is better (``val/loss`` included)."""
    return {"val/loss": "min", **{f"val/{spec.name}": spec.direction for spec in METRICS}}


def build_metrics(num_classes: int, stage: str, thresholds: int | None = None, prefix: str | None = None,
                  **options: Any) -> Any:
    """A torchmetrics ``MetricCollection`` of the rows that apply, keyed by name, with ``prefix`` (``val/``).

    Args:
        num_classes: number of classes.
        stage: ``train``, ``val`` or ``test``.
        thresholds: fixed thresholds of the curve metrics (AUROC, AP); None computes them exactly.
        prefix: put before every name, e.g. ``val/``.
        options: passed to every Metric, e.g. ``sync_on_compute=False`` for predictions that are already
            gathered from every process.
    """
    from torchmetrics import MetricCollection

    metrics = {spec.name: spec.factory(num_classes, thresholds, **options) for spec in metric_specs(num_classes, stage)}
    return MetricCollection(metrics, prefix=prefix)
