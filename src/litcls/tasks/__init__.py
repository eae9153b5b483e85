"""Tasks: what kind of problem a run solves, and everything that follows from it.

A task owns the facts that used to be spread over the code as calls to softmax and argmax: how an image's target
is encoded, which losses fit it, the activation that turns logits into probabilities, how probabilities are
decided (the most probable class, or a threshold per label: a two-class operating threshold is the one-label
case), which rows of the metric table apply, the per-image loss and likelihood that calibration fits, the key that
splits are stratified on, and which output Grad-CAM explains. The module, the evaluation, the callbacks, the
report and predict.py ask the run's task instead of deciding it themselves.

A task is chosen by name (:func:`task_for`) and recorded as the checkpoint hyperparameter ``task``; a checkpoint
without it is single-label. Adding a task is one module here with the methods of :class:`Task` and one entry in
:data:`TASKS`.
"""

from __future__ import annotations

from litcls.errors import UserError
from litcls.suggest import did_you_mean
from litcls.tasks.base import Task
from litcls.tasks.multi_label import MultiLabel
from litcls.tasks.single_label import SingleLabel

SINGLE_LABEL, MULTI_LABEL = "single_label", "multi_label"
DEFAULT_TASK = SINGLE_LABEL

TASKS: dict[str, Task] = {SINGLE_LABEL: SingleLabel(), MULTI_LABEL: MultiLabel()}


def task_for(name: str | None) -> Task:
    """The task called ``name`` (None: single-label, what a checkpoint without the ``task`` hyperparameter is).

    Raises:
        UserError: an unknown name, with the valid ones.
    """
    name = name or DEFAULT_TASK
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}{did_you_mean(name, TASKS)}; valid: {', '.join(TASKS)}")
    return TASKS[name]


__all__ = ["DEFAULT_TASK", "MULTI_LABEL", "SINGLE_LABEL", "TASKS", "MultiLabel", "SingleLabel", "Task", "task_for"]
