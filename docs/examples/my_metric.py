"""A metric of your own: one row of the metric table, ``METRICS`` in ``src/litcls/evaluation/metrics.py``.

The table is read when the package starts (``--monitor``'s valid choices are built from it), so a metric is added
by editing that file: put this row at the end of ``METRICS``, written there with the module's own lazy import::

    MetricSpec("recall_macro", "max", lambda n, t, **o: _tm().MulticlassRecall(n, average="macro", **o)),

The run then logs ``train/recall_macro``, ``val/recall_macro`` and ``test/recall_macro``, accepts
``--monitor val/recall_macro``, keeps its best epoch in the W&B summary, and k-fold and ``--seeds`` runs aggregate
it. Running this file shows that without editing the package: it appends the row to the table before
``train.py``'s code is imported, then hands every flag to ``train.py``'s entry point::

    python docs/examples/my_metric.py --monitor val/recall_macro --epochs 5
"""

import sys

from litcls.evaluation import metrics
from litcls.evaluation.metrics import MetricSpec


def macro_recall(num_classes: int, thresholds: int | None, **options):
    """Recall per class, averaged with every class weighted equally; torchmetrics is imported only when built."""
    from torchmetrics.classification import MulticlassRecall

    return MulticlassRecall(num_classes, average="macro", **options)


# name (logged as <stage>/recall_macro), the direction that is better, the factory; computed from the predicted
# classes (not probabilities), so it is also reported on the training batches
RECALL_MACRO = MetricSpec("recall_macro", "max", macro_recall)


if __name__ == "__main__":
    metrics.METRICS = (*metrics.METRICS, RECALL_MACRO)  # what the one-row edit does
    from litcls.cli.train import main  # imported after the edit: the configuration reads the table on import

    sys.exit(main())
