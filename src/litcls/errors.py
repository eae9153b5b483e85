"""The exception types the command line turns into one line of text, never a traceback."""

from __future__ import annotations

import signal
from pathlib import Path

from litcls.shell import train_command


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
        how = train_command("--resume", run_dir)
        if run_dir.name.startswith("seed_") and (run_dir.parent / "config.yaml").is_file():  # one of --seeds
            how = (f"{how} (this seed; the seeds after it have not run), then "
                   f"{train_command('--aggregate', run_dir.parent)}")
        if run_dir.name.startswith("fold_") and (run_dir.parent / "config.yaml").is_file():  # a k-fold run's fold
            how = (f"{train_command('--resume', run_dir.parent)} (every fold left, then the aggregate), or {how} "
                   "(this fold only)")
        super().__init__(f"stopped by {signal.Signals(signum).name} {where}; {saved}.\nContinue with: {how}")
