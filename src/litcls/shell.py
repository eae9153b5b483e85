"""Commands printed for the user to paste into a shell (``Continue with: python train.py --resume ...``).

Every such command is built here, each word quoted where bash needs it, so that a run folder such as
``My Runs/형태 images (copy)`` stays one argument instead of a syntax error near ``(``.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import NamedTuple


class Glob(NamedTuple):
    """Files matching ``pattern`` inside ``folder``: the folder is quoted, the pattern stays a glob for the shell
    (``'My Runs/wandb'/offline-run-*``)."""

    folder: str | Path
    pattern: str

    def __str__(self) -> str:
        return f"{shlex.quote(str(self.folder))}/{self.pattern}"


def command(*words: str | Path | int | float | Glob) -> str:
    """``command("python", "train.py", "--resume", Path("My Runs/x (1)"))`` -> ``python train.py --resume 'My
    Runs/x (1)'``, which bash splits back into exactly these words."""
    return " ".join(str(word) if isinstance(word, Glob) else shlex.quote(str(word)) for word in words)


def train_command(*words: str | Path | int | float | Glob) -> str:
    """``python train.py`` followed by ``words``, quoted."""
    return command("python", "train.py", *words)
