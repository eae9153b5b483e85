"""Evaluation of a trained model: the metric table, the predictions of an evaluated split, and the decisions made
from them (calibration, operating threshold, confidence intervals, failure slices).

Importing this package imports nothing heavy: :mod:`litcls.evaluation.metrics` is read by the configuration.
"""
