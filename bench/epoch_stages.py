"""Benchmark: where an epoch's time goes, and what ``--cache-images ram`` takes off it.

For each dataset, in one process and one thread, the stages of an epoch (training split + validation split) are
timed one after another: decode, resize, augmentation (the ``light`` preset, training images only; the timed
epochs below run without it), normalisation and conversion to a tensor per image (and, for comparison, the same
normalisation done once per batch), collation, the model's step (forward, backward, optimizer; over tensors already
in memory), the validation forward pass, and writing the two checkpoints of an epoch (last and best). The compute
floor is the model's step plus the validation pass: the same model, batch and optimizer, no decoding, no workers,
no framework.

Then ``train.py`` epochs are timed (the mean of epochs 2 and 3 of a 3-epoch run, from its epoch lines), with
``--num-workers 0`` so that the stages add up (nothing overlaps), ``--augment none``, uncached and with
``--cache-images ram``, interleaved. The rest of the framework is the uncached epoch less the stages it contains.

The floor is measured before and after the two runs and averaged: on a shared machine the load moves.

A last part measures resident memory of the cached loader with 0, 2 and 4 workers, summed over the main process
and its workers, for the mapping of the cache file and for everything: the resident set (RSS, counting a shared
page once per process) and the proportional set (PSS, a shared page divided among the processes that map it).

    nice -n 10 python bench/epoch_stages.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path

import albumentations as A
import numpy as np
import torch
from albumentations.pytorch import ToTensorV2
from common import REPO, machine, run_timed
from data_pipeline import write_photos
from torch import nn
from torch.utils.data import DataLoader, default_collate

from litcls.data.batching import auto_batch_size
from litcls.data.builtin import resolve_data
from litcls.data.dataset import ImageDataset, load_rgb
from litcls.data.image_cache import prepare_image_cache
from litcls.data.scan import scan_folder
from litcls.data.splits import split_samples
from litcls.data.transforms import IMAGENET_MEAN, IMAGENET_STD, Preprocessing, eval_transform, load_augmentation
from litcls.models import build_model

TRAIN_FLAGS = ["--augment", "none", "--patience", "0", "--num-workers", "0", "--bootstrap", "0",
               "--gradcam-per-class", "0", "--gradcam-mistakes", "0", "--logger", "csv"]


def timed(step, items) -> float:
    """Wall seconds of ``step`` over ``items``."""
    started = time.perf_counter()
    for item in items:
        step(item)
    return time.perf_counter() - started


def stages(root: Path, samples, model_name: str, classes: int, size: int, batch: int) -> dict[str, float]:
    """Seconds per epoch of each stage, in this process."""
    train = samples[samples["split"] == "train"]["path"].tolist()
    val = samples[samples["split"] == "val"]["path"].tolist()
    paths = [root / p for p in train + val]
    resize = A.Compose(eval_transform(Preprocessing(size)).transforms[:1])
    finish = A.Compose([A.Normalize(IMAGENET_MEAN, IMAGENET_STD), ToTensorV2()])
    augment = load_augmentation("light")
    decoded = [load_rgb(p, size) for p in paths]
    resized = [resize(image=image)["image"] for image in decoded]
    out: dict[str, float] = {}
    out["decode"] = timed(lambda p: load_rgb(p, size), paths)
    out["resize"] = timed(lambda image: resize(image=image)["image"], decoded)
    out["augmentation (light, not in the timed epochs)"] = timed(lambda image: augment(image=image),
                                                                 resized[:len(train)])
    out["normalise + tensor, per image"] = timed(lambda image: finish(image=image), resized)
    tensors = [finish(image=image)["image"] for image in resized]
    labels = torch.randint(0, classes, (len(tensors),))
    chunks = [list(zip(tensors[i:i + batch], labels[i:i + batch].tolist(), strict=True))
              for i in range(0, len(tensors), batch)]
    out["collation"] = timed(default_collate, chunks)
    uint8 = [torch.from_numpy(np.stack(resized[i:i + batch])).permute(0, 3, 1, 2)
             for i in range(0, len(resized), batch)]
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255, torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255
    out["normalise, per batch (not used)"] = timed(lambda x: (x.float() - mean) / std, uint8)
    out.update(floor(model_name, classes, size, batch, len(train), len(val)))
    return {key: round(value, 3) for key, value in out.items()}


def floor(model_name: str, classes: int, size: int, batch: int, n_train: int, n_val: int) -> dict[str, float]:
    """The compute floor's parts and the checkpoints, over random tensors already in memory."""
    torch.manual_seed(0)
    model = build_model(model_name, classes, size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss()
    counts = [min(batch, n_train - i) for i in range(0, n_train, batch)]
    train_batches = [(torch.randn(n, 3, size, size), torch.randint(0, classes, (n,))) for n in counts]
    val_batches = [torch.randn(min(batch, n_val - i), 3, size, size) for i in range(0, n_val, batch)]

    def step(item):
        images, targets = item
        loss = criterion(model(images), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    model.train()
    step(train_batches[0])  # first-call allocations are start-up, not epoch
    seconds = {"model step (floor)": timed(step, train_batches)}
    model.eval()
    with torch.no_grad():
        seconds["validation forward (floor)"] = timed(model, val_batches)
    with tempfile.TemporaryDirectory() as tmp:
        state = {"state_dict": model.state_dict(), "optimizer": optimizer.state_dict()}
        seconds["checkpoints (2 per epoch)"] = timed(lambda name: torch.save(state, Path(tmp) / name), ["a", "b"])
    return seconds


def epoch_seconds(data: Path, model: str, size: int, batch: int, cwd: Path, mode: str) -> float:
    """Wall seconds of train.py's later epochs (2 and 3 of 3, their mean), read from its epoch lines: start-up and
    the first epoch's worker and allocator warm-up stay out."""
    _, out = run_timed([str(REPO / "train.py"), "--data", str(data), "--model", model, "--img-size", str(size),
                        "--batch-size", str(batch), "--epochs", "3", "--cache-images", mode, "--out-dir", "runs",
                        *TRAIN_FLAGS], cwd)
    seconds = [float(m.group(2)) for m in re.finditer(r"^epoch (\d)/3 .*? ([0-9.]+) s ", out, re.M)
               if m.group(1) != "1"]
    if len(seconds) != 2:
        raise RuntimeError(f"no epoch lines in:\n{out[-2000:]}")
    return sum(seconds) / 2


def resident_kb(pid: int, file: Path | None = None) -> dict[str, int]:
    """RSS and PSS (kB) of process ``pid``, or of its mappings of ``file`` only."""
    totals, inside = {"Rss": 0, "Pss": 0}, file is None
    with open(f"/proc/{pid}/smaps", encoding="utf-8", errors="replace") as f:
        for line in f:
            head = line.split()
            if not head[0].endswith(":"):  # a mapping's header: address range, permissions, ..., path
                inside = file is None or head[-1] == str(file)
            elif inside and head[0][:-1] in totals:
                totals[head[0][:-1]] += int(head[1])
    return totals


def memory(root: Path, size: int) -> dict:
    """Summed PSS and RSS (MB) of the main process and its loader workers after one pass over the cached images."""
    paths = scan_folder(root).samples["path"].tolist()
    cache = prepare_image_cache("ram", root, paths, eval_transform(Preprocessing(size)), size, 0)
    dataset = cache.wrap(ImageDataset(root, paths, [0] * len(paths), eval_transform(Preprocessing(size)), size))
    result = {"array MiB": round(cache.array.nbytes / 2**20, 1)}
    for workers in (0, 2, 4):
        loader = DataLoader(dataset, batch_size=32, num_workers=workers, persistent_workers=workers > 0)
        for _ in loader:
            pass
        pids = [os.getpid(), *(w.pid for w in getattr(loader._iterator, "_workers", []))]
        row = {}
        for what, file in (("cache file", cache.file), ("all", None)):
            sums = [resident_kb(pid, file) for pid in pids]
            row[what] = {f"{key} MiB": round(sum(s[key] for s in sums) / 1024, 1) for key in ("Pss", "Rss")}
        result[f"{workers} workers"] = row
        del loader
    cache.file.unlink(missing_ok=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--only", nargs="*", help="names of the datasets to run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    report = {"machine": machine(), "load before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_photos(tmp / "photos", args.photos)
        write_photos(tmp / "teachable", 150)  # 3 classes x 50, a Teachable Machine project's size
        datasets = {"digits, resnet18, 32 px": ("digits", "resnet18", 32),
                    f"{args.photos} 640x480 JPEGs, linear, 224 px": (tmp / "photos", "linear", 224),
                    "digits, cnn, 32 px": ("digits", "cnn", 32),
                    "3 x 50 640x480 JPEGs, mobilenet_v3_small, 224 px": (tmp / "teachable", "mobilenet_v3_small", 224)}
        for name, (data, model, size) in datasets.items():
            if args.only and not any(word in name for word in args.only):
                continue
            scan = scan_folder(resolve_data(str(data)) if data == "digits" else data)
            samples = split_samples(scan, 0.15, 0.15, 42)
            batch = auto_batch_size(int((samples["split"] == "train").sum()))
            parts = stages(scan.root, samples, model, len(scan.classes), size, batch)
            epochs = {mode: epoch_seconds(Path(scan.root).resolve(), model, size, batch, tmp, mode)
                      for mode in ("none", "ram")}
            again = floor(model, len(scan.classes), size, batch, int((samples["split"] == "train").sum()),
                          int((samples["split"] == "val").sum()))  # the floor again, after the epochs: load varies
            parts["floor, measured again after the epochs"] = round(sum(list(again.values())[:2]), 3)
            floor_s = (parts["model step (floor)"] + parts["validation forward (floor)"]
                       + parts["floor, measured again after the epochs"]) / 2
            inside = sum(parts[k] for k in ("decode", "resize", "normalise + tensor, per image", "collation",
                                            "model step (floor)", "validation forward (floor)",
                                            "checkpoints (2 per epoch)"))
            report[name] = {"batch": batch, "stages s/epoch": parts, "train.py s/epoch": epochs,
                            "rest of the framework, uncached": round(epochs["none"] - inside, 3),
                            "compute floor s/epoch": round(floor_s, 3),
                            "ratio to floor": {mode: round(s / floor_s, 3) for mode, s in epochs.items()},
                            "uncached / cached": round(epochs["none"] / epochs["ram"], 3)}
            print(json.dumps({name: report[name]}), flush=True)
        if not args.only or "memory" in args.only:
            report["memory, photos at 224 px, cached"] = memory(tmp / "photos", 224)
    report["load after"] = os.getloadavg()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
