"""Benchmark 2: decoded and augmented images per second, our dataset against torchvision's ImageFolder.

Both sides read the same folder of JPEG photos-sized images, with the same DataLoader (batch size, workers),
resize to the same size and apply equivalent augmentation (the `light` preset: affine with p=0.5, brightness and
contrast with p=0.3) and normalisation. Repetitions are interleaved; medians are reported. A per-stage profile of
our pipeline in one process says where the time goes.

Our dataset is measured as the datamodule builds it (JPEGs decoded at reduced scale down to the training size,
``min_size``) and, as the "before" figure of that optimisation, with full-size decoding like ImageFolder's.

    python bench/data_pipeline.py --images 600 --size 224 --reps 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import machine, median
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.transforms import v2

from litcls.data.dataset import ImageDataset, load_rgb
from litcls.data.scan import scan_folder
from litcls.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocessing,
    load_augmentation,
    train_transform,
)


def write_photos(root: Path, count: int, width: int = 640, height: int = 480) -> None:
    """Smooth colour fields with a few shapes, saved as JPEG (quality 90), like downsized phone photos."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(count):
        folder = root / f"class_{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        base = np.stack([np.sin(xx / rng.uniform(20, 80) + c) * np.cos(yy / rng.uniform(20, 80)) for c in range(3)], -1)
        pixels = ((base + 1) * 127 + rng.normal(0, 8, size=base.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img_{i:04d}.jpg", quality=90)


def images_per_second(dataset, batch_size: int, workers: int) -> float:
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False)
    started = time.perf_counter()
    count = sum(len(labels) for _, labels in loader)
    return count / (time.perf_counter() - started)


def torchvision_equivalent(size: int) -> v2.Compose:
    return v2.Compose([
        v2.PILToTensor(),
        v2.Resize((size, size), antialias=True),
        v2.RandomApply([v2.RandomAffine(degrees=10, translate=(0.05, 0.05), scale=(0.9, 1.1))], p=0.5),
        v2.RandomApply([v2.ColorJitter(brightness=0.1, contrast=0.1)], p=0.3),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def stage_profile(paths: list[Path], size: int, min_size: int | None) -> dict[str, float]:
    """Milliseconds per image for each stage of our pipeline, in the main process."""
    import albumentations as A
    from albumentations.pytorch import ToTensorV2

    resize, augment = A.Resize(size, size), load_augmentation("light")
    finish = A.Compose([A.Normalize(IMAGENET_MEAN, IMAGENET_STD), ToTensorV2()])
    totals = dict.fromkeys(("decode to RGB", "resize", "augment (light)", "normalise + tensor"), 0.0)
    for path in paths:
        t0 = time.perf_counter()
        image = load_rgb(path, min_size)
        t1 = time.perf_counter()
        image = resize(image=image)["image"]
        t2 = time.perf_counter()
        image = augment(image=image)["image"]
        t3 = time.perf_counter()
        finish(image=image)
        t4 = time.perf_counter()
        for key, seconds in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            totals[key] += seconds
    return {key: round(1000 * value / len(paths), 3) for key, value in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the workers do the work; keep the comparison about the pipelines
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "photos"
        write_photos(root, args.images)
        scan = scan_folder(root)
        paths, labels = scan.samples["path"].tolist(), scan.samples["label"].tolist()
        pipelines = {
            "litcls": ImageDataset(root, paths, labels, train_transform(Preprocessing(args.size), "light"),
                                   min_size=args.size),
            "litcls, full-size decode": ImageDataset(root, paths, labels,
                                                     train_transform(Preprocessing(args.size), "light")),
            "torchvision ImageFolder": datasets.ImageFolder(str(root), transform=torchvision_equivalent(args.size)),
        }
        rates: dict[str, list[float]] = {name: [] for name in pipelines}
        for _ in range(args.reps):
            for name, dataset in pipelines.items():
                rates[name].append(images_per_second(dataset, args.batch_size, args.num_workers))
        sample = [root / p for p in paths[:200]]
        profiles = {"litcls": stage_profile(sample, args.size, args.size),
                    "litcls, full-size decode": stage_profile(sample, args.size, None)}
    result = {key: round(median(values), 1) for key, values in rates.items()}
    baseline = result["torchvision ImageFolder"]
    print(json.dumps({"machine": machine(), "images": args.images, "source": "640x480 JPEG", "size": args.size,
                      "num_workers": args.num_workers, "reps": args.reps, "images/s": result,
                      "ratio to ImageFolder": {name: round(rate / baseline, 3) for name, rate in result.items()},
                      "ms per image by stage (one process)": profiles}))


if __name__ == "__main__":
    main()
