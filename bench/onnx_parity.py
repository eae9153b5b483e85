"""Benchmark: the ONNX export on images larger than the model's input, against predict.py.

    python train.py --epochs 3 --name digits3
    PYTHONPATH=src python bench/onnx_parity.py runs/digits3 /tmp/digits_large
    python predict.py --ckpt runs/digits3 --images /tmp/digits_large --export onnx --out /tmp/digits3-onnx

The first command writes every test image of the run (``splits.csv``) enlarged to a random size of 40 to 400
pixels per side (aspect ratio changed too), as JPEG (quality 90) or PNG in turn, into class folders; predict.py
then prints the agreement of the exported graph with itself on those files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image


def enlarge_test_images(run_dir: Path, target: Path, seed: int = 0) -> int:
    """Write the run's test images enlarged under ``target/<class>/``; return how many."""
    from litcls.data.builtin import BUILTIN_DATASETS, data_home

    data = str(yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))["data"])
    root = data_home() / data if data in BUILTIN_DATASETS and not Path(data).is_dir() else Path(data)
    splits = pd.read_csv(run_dir / "splits.csv", keep_default_na=False, dtype={"class": str})
    rng = np.random.default_rng(seed)
    test = splits[splits["split"] == "test"]
    for i, (path, name) in enumerate(zip(test["path"], test["class"], strict=True)):
        width, height = (int(side) for side in rng.integers(40, 401, size=2))
        with Image.open(root / path) as image:
            large = image.convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
        (target / name).mkdir(parents=True, exist_ok=True)
        large.save(target / name / f"{Path(path).stem}_{width}x{height}{'.jpg' if i % 2 else '.png'}", quality=90)
    return len(test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("target", type=Path)
    args = parser.parse_args()
    count = enlarge_test_images(args.run_dir, args.target)
    print(f"{count} test images enlarged -> {args.target}")


if __name__ == "__main__":
    main()
