"""Orchestration: one run (build, fit, evaluate), k-fold, repeated seeds, resume, and the run folder.

Everything here builds on the parts below it (data, models, evaluation, callbacks, tracking, config) and nothing
below imports it back.
"""
