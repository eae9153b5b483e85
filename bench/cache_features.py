"""--cache-features against the live frozen backbone: per-epoch time, end-to-end time and test accuracy.

Trains mobilenet_v3_small with a frozen backbone on the built-in digits at 224 px twice, in this process and
with the same flags (``--augment none``, ``--patience 0`` so both run every epoch): once with ``--cache-features``
for ``--cached-epochs`` epochs, once without for ``--live-epochs``. The starting weights are random tensors
staged in a temporary torchvision cache (no download here) with batch-norm statistics measured on 256 digits
(:func:`calibrated_random_weights`), so accuracies say how the two paths compare, not what ImageNet features
reach. Epoch times come from a callback (train plus validation of each epoch).

    PYTHONPATH=src python bench/cache_features.py --cached-epochs 30 --live-epochs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
import torchvision
from common import machine
from torch.utils.data import DataLoader

import litcls.runs.trainer
from litcls.cli.train import parse_config
from litcls.data.builtin import resolve_data
from litcls.data.dataset import ImageDataset
from litcls.data.scan import scan_folder
from litcls.data.transforms import Preprocessing, eval_transform
from litcls.models import get_model_spec
from litcls.models.pretrained import cached_weights_path
from litcls.runs.dispatch import train


class EpochTimer(L.Callback):
    """Seconds of each training epoch, its validation included (Lightning validates inside the epoch)."""

    def __init__(self):
        self.seconds: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer, pl_module):
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        self.seconds.append(time.perf_counter() - self._start)


def timed_run(flags: list[str]) -> dict:
    timer = EpochTimer()
    build = litcls.runs.trainer.build_callbacks
    litcls.runs.trainer.build_callbacks = lambda *args: [*build(*args), timer]
    try:
        config, _ = parse_config(flags)
        started = time.perf_counter()
        run_dir = train(config)
        total = time.perf_counter() - started
    finally:
        litcls.runs.trainer.build_callbacks = build
    results = json.loads((run_dir / "results.json").read_text())
    later = timer.seconds[1:] or timer.seconds  # the first epoch also warms up workers and caches
    return {"epochs": len(timer.seconds), "first_epoch_s": round(timer.seconds[0], 2),
            "median_epoch_s": round(statistics.median(later), 3), "total_s": round(total, 1),
            "extraction_s": results.get("cached_features", {}).get("seconds"),
            "test_acc": round(results["test/acc"], 4)}


def calibrated_random_weights(images: int = 256) -> dict[str, torch.Tensor]:
    """Random ImageNet-shaped mobilenet_v3_small weights whose batch-norm statistics are measured on ``images``
    digits. With the default statistics (mean 0, variance 1) a random network's activations vanish in eval mode
    (head inputs of about 1e-10, the head stays at chance); measured statistics give usable random features."""
    spec = get_model_spec("mobilenet_v3_small")
    scan = scan_folder(resolve_data("digits"))
    transforms = spec.weights.transforms()
    pre = Preprocessing(224, tuple(transforms.mean), tuple(transforms.std))
    rows = scan.samples.sample(images, random_state=0)
    dataset = ImageDataset(scan.root, rows["path"].tolist(), rows["label"].tolist(), eval_transform(pre))
    torch.manual_seed(1)
    model = torchvision.models.mobilenet_v3_small()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # a plain average over the batches
    model.train()
    with torch.no_grad():
        for batch, _ in DataLoader(dataset, batch_size=64):
            model(batch)
    return model.state_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cached-epochs", type=int, default=30)
    parser.add_argument("--live-epochs", type=int, default=30)
    parser.add_argument("--num-workers", type=int, default=2)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="litcls-bench-cache-"))
    os.environ["TORCH_HOME"] = str(scratch / "torch_home")
    os.environ["LITCLS_CACHE"] = str(scratch / "cache")
    path = cached_weights_path(get_model_spec("mobilenet_v3_small"))
    path.parent.mkdir(parents=True)
    torch.save(calibrated_random_weights(), path)
    common = ["--data", "digits", "--model", "mobilenet_v3_small", "--pretrained", "--freeze-backbone",
              "--augment", "none", "--patience", "0", "--logger", "none", "--num-workers", str(args.num_workers),
              "--accelerator", "cpu", "--out-dir", str(scratch / "runs"), "--gradcam-per-class", "0",
              "--gradcam-mistakes", "0"]
    rows = {
        "cached": timed_run([*common, "--cache-features", "--epochs", str(args.cached_epochs), "--name", "cached"]),
        "live": timed_run([*common, "--epochs", str(args.live_epochs), "--name", "live"]),
    }
    if args.live_epochs != args.cached_epochs:  # accuracy at equal epochs (features read from the cache)
        rows["cached_as_many_epochs_as_live"] = timed_run([*common, "--cache-features", "--epochs",
                                                           str(args.live_epochs), "--name", "cached_short"])
    print(f"machine: {machine()}")
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
