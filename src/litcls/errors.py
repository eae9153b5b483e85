"""The exception types the command line turns into one line of text, never a traceback."""

from __future__ import annotations

import signal
from pathlib import Path


class UserError(Exception):
    """A problem the user can fix (bad flag, bad folder); the message says which and how."""


class TrainingInterrupted(Exception):
    """Training stopped on SIGTERM or Ctrl+C (see ``litcls.callbacks.graceful_stop``); the message says how to
    continue."""

    def __init__(self, signum: int, run_dir: Path, checkpoint: Path | None, where: str, quiet: bool = False):
        self.signum = signum
        self.checkpoint = checkpoint
        self.quiet = quiet  # the other DDP processes stop too, without repeating the message
        last = run_dir / "checkpoints" / "last.ckpt"
        saved = f"saved {checkpoint}" if checkpoint else f"the last checkpoint is {last}"
        super().__init__(f"stopped by {signal.Signals(signum).name} {where}; {saved}.\n"
                         f"Continue with: python train.py --resume {run_dir}")
