"""Lightning messages a user can do nothing about, filtered once for every Trainer the package builds (training,
its evaluation, predict.py's prediction loop)."""

from __future__ import annotations

import logging
import warnings

# Lightning 2.6 builds torch's deprecated LeafSpec when it moves a batch; torch 2.14 then warns in every run,
# about code the user cannot change.
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
# Every Trainer Lightning builds advertises a logging service (once per run, once per fold plus its evaluation).
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
    lambda record: not str(record.msg).startswith("💡 Tip"))
