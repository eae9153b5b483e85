"""The metric table: every metric a run reports, declared once.

One row per metric: its name (logged as ``<stage>/<name>``), the tasks it applies to (:mod:`litcls.tasks`; a name
may have one row per task), the direction that is better (for ``--monitor`` and the W&B summaries), whether it is
threshold-free (computed from class probabilities; reported on validation, test and k-fold out-of-fold
predictions, not on training batches), and a torchmetrics factory. The LightningModule
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

from litcls.tasks import MULTI_LABEL, SINGLE_LABEL

# Exact AUROC and AP keep every probability of the evaluated split (images x classes values, gathered onto every
# process under DDP); above this many values they use fixed thresholds, whose memory does not grow with the data.
EXACT_CURVE_LIMIT = 50_000_000  # 200 MB of float32
FIXED_THRESHOLDS = 1001  # 0, 0.001, ..., 1




def _tm() -> Any:
    return importlib.import_module("torchmetrics.classification")


def _present() -> Any:
    return importlib.import_module("litcls.evaluation.present_classes")


def _multi() -> Any:
    return importlib.import_module("litcls.evaluation.multilabel_metrics")


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
        tasks: names of the tasks the row applies to.
    """

    name: str
    direction: str
    factory: Callable[..., Any]
    probabilities: bool = False
    min_classes: int = 2
    tasks: tuple[str, ...] = (SINGLE_LABEL,)


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("acc", "max", lambda n, t, **o: _tm().MulticlassAccuracy(n, average="micro", **o)),
    MetricSpec("f1_macro", "max", lambda n, t, **o: _tm().MulticlassF1Score(n, average="macro", **o)),
    MetricSpec("f1_micro", "max", lambda n, t, **o: _tm().MulticlassF1Score(n, average="micro", **o)),
    MetricSpec("acc_top5", "max", lambda n, t, **o: _tm().MulticlassAccuracy(n, top_k=5, average="micro", **o),
               probabilities=True, min_classes=6),
    MetricSpec("auroc", "max", lambda n, t, **o: _present().PresentClassAUROC(n, thresholds=t, **o),
               probabilities=True),
    MetricSpec("ap", "max", lambda n, t, **o: _present().PresentClassAveragePrecision(n, thresholds=t, **o),
               probabilities=True),
    MetricSpec("ece", "min", lambda n, t, **o: _tm().MulticlassCalibrationError(n, n_bins=15, norm="l1", **o),
               probabilities=True),
    # multi-label (litcls.evaluation.multilabel_metrics): ignored cells left out, calls at 0.5 while training
    MetricSpec("auroc", "max", lambda n, t, **o: _multi().PresentLabelAUROC(n, thresholds=t, **o),
               probabilities=True, min_classes=1, tasks=(MULTI_LABEL,)),
    MetricSpec("auroc_micro", "max", lambda n, t, **o: _tm().MultilabelAUROC(
        n, average="micro", thresholds=t, ignore_index=-1, **o), probabilities=True, min_classes=1,
               tasks=(MULTI_LABEL,)),
    MetricSpec("ap", "max", lambda n, t, **o: _multi().PresentLabelAveragePrecision(n, thresholds=t, **o),
               probabilities=True, min_classes=1, tasks=(MULTI_LABEL,)),
    *(MetricSpec(name, "min" if name == "hamming" else "max",
                 (lambda output: lambda n, t, **o: _multi().CallsAtThresholds(n, output, **o))(name),
                 min_classes=1, tasks=(MULTI_LABEL,))
      for name in ("f1_macro", "f1_micro", "f1_samples", "exact_match", "hamming")),
    MetricSpec("ece", "min", lambda n, t, **o: _multi().LabelCalibrationError(n, **o), probabilities=True,
               min_classes=1, tasks=(MULTI_LABEL,)),
)


# Metrics that keep the same state by construction update it once. torchmetrics' automatic compute groups would
# instead merge any metrics whose states happen to be equal after the first batch (top-5 accuracy and macro F1
# when the first batch is all correct), and then report one's value for the other: the groups are stated here.
SHARED_STATE = (("acc", "f1_micro"), ("auroc", "ap"),
                ("f1_macro", "f1_micro", "f1_samples", "exact_match", "hamming"))  # multi-label: one set of counts


def spec(name: str, task: str = SINGLE_LABEL) -> MetricSpec:
    """The row called ``name`` of ``task``."""
    return next(row for row in METRICS if row.name == name and task in row.tasks)


def curve_thresholds(images: int, classes: int) -> int | None:
    """None (exact AUROC and AP) for an evaluation split of up to ``EXACT_CURVE_LIMIT`` probabilities, else the
    number of fixed thresholds."""
    return None if images * classes <= EXACT_CURVE_LIMIT else FIXED_THRESHOLDS


def check_monitor(monitor: str, num_classes: int, task: str = SINGLE_LABEL) -> None:
    """Refuse a ``--monitor`` metric that is not computed for this task or number of classes (top-5 accuracy needs
    six)."""
    from litcls.errors import UserError

    name = monitor.split("/", 1)[1]
    if name != "loss" and not any(row.name == name and task in row.tasks for row in METRICS):
        valid = ", ".join(["val/loss", *dict.fromkeys(f"val/{row.name}" for row in METRICS if task in row.tasks)])
        raise UserError(f"--monitor {monitor} is not computed for a {task.replace('_', '-')} task; valid: {valid}")
    row = next((row for row in METRICS if row.name == name and task in row.tasks), None)
    if row is not None and num_classes < row.min_classes:
        raise UserError(f"--monitor {monitor} needs at least {row.min_classes} classes, the data has {num_classes}; "
                        "monitor val/loss, val/f1_macro or val/auroc instead")


def metric_specs(num_classes: int | None = None, stage: str = "val",
                 task: str = SINGLE_LABEL) -> tuple[MetricSpec, ...]:
    """The rows that apply to a task, a stage (``train`` has no threshold-free metrics) and a number of classes."""
    return tuple(spec for spec in METRICS
                 if task in spec.tasks and (stage != "train" or not spec.probabilities)
                 and (num_classes is None or num_classes >= spec.min_classes))


def monitors() -> dict[str, str]:
    """Every metric ``--monitor`` may watch, in any task, -> the direction that is better (``val/loss`` included)."""
    return {"val/loss": "min", **{f"val/{spec.name}": spec.direction for spec in METRICS}}


def build_metrics(num_classes: int, stage: str, thresholds: int | None = None, prefix: str | None = None,
                  task: str = SINGLE_LABEL, **options: Any) -> Any:
    """A torchmetrics ``MetricCollection`` of the rows that apply, keyed by name, with ``prefix`` (``val/``).

    Args:
        num_classes: number of classes.
        stage: ``train``, ``val`` or ``test``.
        thresholds: fixed thresholds of the curve metrics (AUROC, AP); None computes them exactly.
        prefix: put before every name, e.g. ``val/``.
        task: the task's name: its rows.
        options: passed to every Metric, e.g. ``sync_on_compute=False`` for predictions that are already
            gathered from every process.
    """
    from torchmetrics import MetricCollection

    metrics = {spec.name: spec.factory(num_classes, thresholds, **options)
               for spec in metric_specs(num_classes, stage, task)}
    groups = [list(group) for group in SHARED_STATE if set(group) <= set(metrics)]
    return MetricCollection(metrics, prefix=prefix, compute_groups=groups)
