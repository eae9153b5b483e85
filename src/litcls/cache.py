"""Where litcls keeps what it can recompute: ``$LITCLS_CACHE``, by default ``~/.cache/litcls``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$LITCLS_CACHE``, by default ``~/.cache/litcls``; deleting it only costs recomputation."""
    return Path(os.environ.get("LITCLS_CACHE") or Path.home() / ".cache" / "litcls")
