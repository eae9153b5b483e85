"""``--cache-features``: embed every image once with the frozen backbone, keep the features on disk, reuse them.

Teachable Machine's speed comes from running the backbone once per image and fitting only a small head on the
stored activations. Here the features are the input of the model's head, computed in eval mode with the run's
evaluation preprocessing (no augmentation: an augmented image would need a new pass every epoch). They are
saved under ``$LITCLS_CACHE/features`` (default ``~/.cache/litcls/features``) in a file whose name is a hash of
everything they depend on: the model and head, the backbone's tensors, the preprocessing, the torch version
and the images (path, size, modification time). A second run, or every fold of a k-fold run, finds the file; a
change of weights, image size or sample table gives a new name, so a stale file is never read.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pandas as pd
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader
from tqdm import tqdm

from litcls.cache import cache_root
from litcls.config import TrainConfig
from litcls.data.dataset import ImageDataset
from litcls.data.feature_datamodule import FeatureDataModule
from litcls.data.samples import has_targets, targets_of
from litcls.data.transforms import eval_transform
from litcls.files import write_atomically
from litcls.models.head_only import HeadOnlyModule, check_head_is_last, head_inputs
from litcls.models.registry import get_model_spec

CACHE_VERSION = 1


def cache_dir() -> Path:
    """``$LITCLS_CACHE/features``, by default ``~/.cache/litcls/features``."""
    return cache_root() / "features"


def cache_key(module: HeadOnlyModule, head: str, root: Path, paths: list[str]) -> str:
    """A hash of everything the features depend on (see the module docstring)."""
    digest = hashlib.sha256()
    preprocessing = module.preprocessing.to_dict()
    digest.update(json.dumps([CACHE_VERSION, module.hparams.model, head, preprocessing, torch.__version__],
                             sort_keys=True).encode())
    for key, tensor in sorted(module.model.state_dict().items()):
        if not key.startswith(head + "."):
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    for path in paths:
        stat = (root / path).stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def extract(module: HeadOnlyModule, head: str, root: Path, paths: list[str], batch_size: int, num_workers: int,
            device: torch.device) -> torch.Tensor:
    """The head inputs of every image in ``paths``, in order, with a progress bar; the model is left as found."""
    pre = module.preprocessing
    dataset = ImageDataset(root, paths, [0] * len(paths), eval_transform(pre), min_size=pre.img_size)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
    was_training, was_device = module.training, module.device
    module.eval().to(device)
    chunks = []
    try:
        for images, _ in tqdm(loader, desc="extracting features", unit="batch", dynamic_ncols=True,
                              disable=None):  # None: no bar when stderr is not a terminal
            chunks.append(head_inputs(module.model, head, images.to(device))[0].float().cpu())
    finally:
        module.train(was_training).to(was_device)
    return torch.cat(chunks)


def cached_features(config: TrainConfig, module: HeadOnlyModule, root: Path, samples: pd.DataFrame,
                    classes: list[str], batch_size: int) -> tuple[FeatureDataModule, dict]:
    """The features of every split of ``samples``, from the cache file or extracted (and saved) now.

    Returns:
        The datamodule and a record for ``results.json``: cache file, whether it was reused, extraction seconds.
    """
    spec = get_model_spec(config.model.name)
    head = spec.head_name(module.model)
    check_head_is_last(module.model, config.model.name, head, module.preprocessing.img_size)
    if config.data.augment != "none":
        rank_zero_info(f"--cache-features: each image is embedded once, without augmentation (--augment "
                       f"{config.data.augment} is not applied)")
    paths = sorted(set(samples["path"]))
    started = time.perf_counter()
    path = cache_dir() / f"{config.model.name}-{cache_key(module, head, root, paths)}.pt"
    reused = path.is_file()
    if reused:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        reused = saved.get("paths") == paths
    if reused:
        features = saved["features"]
        rank_zero_info(f"--cache-features: {len(paths)} cached features read from {path}")
    else:
        use_gpu = torch.cuda.is_available() and config.hardware.accelerator in ("auto", "gpu", "cuda")
        features = extract(module, head, root, paths, batch_size, config.data.num_workers,
                           torch.device("cuda" if use_gpu else "cpu"))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda partial: torch.save({"paths": paths, "features": features}, partial))
        rank_zero_info(f"--cache-features: {len(paths)} images embedded in {time.perf_counter() - started:.1f} s, "
                       f"cached in {path}")
    row = {p: i for i, p in enumerate(paths)}
    splits = {}
    for name in ("train", "val", "test"):
        rows = samples[samples["split"] == name]
        index = torch.tensor([row[p] for p in rows["path"]], dtype=torch.long)
        labels = (torch.from_numpy(targets_of(rows, classes)) if has_targets(rows, classes)  # multi-label: (N, L)
                  else torch.tensor(rows["label"].to_numpy(), dtype=torch.long))
        splits[name] = (features[index], labels)
    record = {"file": str(path), "reused": reused, "dim": int(features.shape[1]),
              "seconds": round(time.perf_counter() - started, 1)}
    return FeatureDataModule(splits, classes, batch_size, config.data.balance, config.data.seed), record
