"""Seconds per epoch of timm's tiny test models against resnet18 on the digits at 64 px, in one sitting.

Each model trains for ``--epochs`` epochs (default 3) from scratch (random weights: a timing of the forward and
backward passes, not of accuracy) with the same flags; the epoch lines' seconds are read from train.py's output and
the median over the epochs after the first is reported, with the load average before and after::

    python bench/timm_families.py --epochs 3
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODELS = ("resnet18", "timm/test_convnext", "timm/test_efficientnet", "timm/test_vit", "timm/test_resnet")
EPOCH = re.compile(r"^epoch (\d+)/\d+ .*?  ([\d.]+) s  \d+ img/s$", re.MULTILINE)


def epoch_seconds(model: str, epochs: int, out: Path) -> list[float]:
    command = [sys.executable, str(REPO / "train.py"), "--model", model, "--img-size", "64", "--epochs", str(epochs),
               "--batch-size", "64", "--num-workers", "0", "--logger", "none", "--bootstrap", "0",
               "--gradcam-per-class", "0", "--gradcam-mistakes", "0", "--patience", "0",
               "--out-dir", str(out), "--name", model.replace("/", "-")]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode:
        raise SystemExit(f"{model}: {result.stderr.strip().splitlines()[-1]}")
    return [float(seconds) for _, seconds in EPOCH.findall(result.stdout)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as out:
        for model in args.models:
            seconds = epoch_seconds(model, args.epochs, Path(out))
            later = seconds[1:] or seconds
            print(f"{model:26s} median {statistics.median(later):6.1f} s per epoch  (epochs: "
                  f"{', '.join(f'{s:.1f}' for s in seconds)})", flush=True)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
