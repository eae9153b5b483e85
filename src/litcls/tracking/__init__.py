"""Experiment loggers chosen by ``--logger``, writing inside the run folder; a tracker never ends a run."""
