"""Shared fixtures: real image folders on disk, small enough for a 2-core machine."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
PALETTE = [(220, 40, 40), (40, 200, 60), (40, 60, 220), (230, 200, 40), (180, 40, 200), (40, 200, 200)]


def write_images(folder: Path, count: int, color: tuple[int, int, int], size: int = 16, ext: str = ".png",
                 seed: int = 0, prefix: str = "img") -> list[Path]:
    """Write ``count`` noisy images of one dominant colour, so a tiny model can tell classes apart."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        noise = rng.integers(-40, 40, size=(size, size, 3))
        pixels = np.clip(np.array(color)[None, None, :] + noise, 0, 255).astype(np.uint8)
        path = folder / f"{prefix}_{i:03d}{ext}"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def make_class_folder(root: Path, counts: dict[str, int], size: int = 16, ext: str = ".png") -> Path:
    """``root/<class>/<image>`` with ``counts[class]`` images per class."""
    for index, (name, count) in enumerate(counts.items()):
        write_images(root / name, count, PALETTE[index % len(PALETTE)], size=size, ext=ext, seed=index)
    return root


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """Tests (and the CLI runs they start) keep scan indexes and features out of the user's ~/.cache/litcls."""
    previous = os.environ.get("LITCLS_CACHE")
    os.environ["LITCLS_CACHE"] = str(tmp_path_factory.mktemp("litcls-cache"))
    yield
    if previous is None:
        del os.environ["LITCLS_CACHE"]
    else:
        os.environ["LITCLS_CACHE"] = previous


@pytest.fixture
def hf_home(tmp_path: Path, monkeypatch) -> Path:
    """An empty Hugging Face home, offline (timm's weights are staged into it: ``tests/timm_cache.py``)."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf"


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Three classes of 12 images, 16 px."""
    return make_class_folder(tmp_path / "shapes", {"circle": 12, "square": 12, "triangle": 12})


def run_cli(script: str, *args: str, cwd: Path, timeout: float = 600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``script`` (train.py, predict.py) from the repository in a subprocess, as a user would."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, str(REPO / script), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def run_main(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``script``'s ``main`` (train.py, predict.py) in this process, returned as :func:`run_cli` returns it: for tests
    about what a run does, not about the process, it saves the seconds each new Python spends importing torch and
    Lightning. Its stderr holds what a terminal shows: warnings (each once, as a new process shows them) and
    Lightning's log lines."""
    if script == "train.py":
        from litcls.cli.train import main
    else:
        from litcls.cli.predict import main
    out, err = io.StringIO(), io.StringIO()
    lightning_log = logging.getLogger("lightning.pytorch")
    handler = logging.StreamHandler(err)
    lightning_log.addHandler(handler)
    try:
        with (contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err),
              warnings.catch_warnings()):
            warnings.simplefilter("default")
            warnings.showwarning = _show_on_stderr
            try:
                code = main(list(args))
            except SystemExit as exit_:  # argparse's own exits
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        lightning_log.removeHandler(handler)
    return subprocess.CompletedProcess([script, *args], code, out.getvalue(), err.getvalue())


def _show_on_stderr(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
