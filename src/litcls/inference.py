"""Checkpoint -> model, and images on disk -> class probabilities and Grad-CAM overlays, with nothing repeated from
training. ``predict.py`` and the demo page both predict through here."""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path

import albumentations as A
import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from litcls.data.dataset import load_rgb
from litcls.data.scan import is_image
from litcls.data.transforms import Preprocessing, eval_transform
from litcls.errors import UserError
from litcls.models.module import ClassifierModule
from litcls.runfolder import resolve_checkpoint


def load_checkpoint(path: str | Path, trust: bool = False) -> ClassifierModule:
    """Rebuild the trained module from a checkpoint written by ``train.py`` (or its run folder), in eval mode
    on the CPU.

    The checkpoint is read with ``torch.load(weights_only=True)``, which refuses anything but tensors and
    plain containers, so a checkpoint from a stranger cannot run code. ``trust=True`` lifts that restriction
    for checkpoints you made yourself with other tools.
    """
    path = resolve_checkpoint(path)
    if not zipfile.is_zipfile(path):  # torch.save has written zip archives since torch 1.6
        raise UserError(f"--ckpt: {path} is not a PyTorch checkpoint (not a zip archive)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as err:
        raise UserError(f"--ckpt: {path} holds objects other than tensors ({' '.join(str(err).split())[:200]}); "
                        "load it with --trust-checkpoint only if you trust where it came from") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise UserError(f"--ckpt: {path} is not a readable checkpoint: {' '.join(str(err).split())[:200]}") from None
    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not hparams or "class_names" not in hparams or "state_dict" not in checkpoint:
        raise UserError(f"--ckpt: {path} is not a checkpoint written by train.py (no class names inside)")
    try:
        module = ClassifierModule(**hparams)
        module.load_state_dict(checkpoint["state_dict"])
    except (TypeError, KeyError, ValueError, RuntimeError) as err:  # another project's Lightning checkpoint
        raise UserError(f"--ckpt: {path} does not fit this version of litcls "
                        f"({type(err).__name__}: {' '.join(str(err).split())[:200]})") from None
    module.on_load_checkpoint(checkpoint)  # the temperature and threshold the evaluation stored
    return module.eval()


def find_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Expand folders (recursively, images only, sorted) and keep files as given, in order."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths += sorted(p for p in item.rglob("*") if p.is_file() and is_image(p.name))
        elif item.exists():
            paths.append(item)
        else:
            raise UserError(f"--images: no such file or folder: {item}")
    if not paths:
        raise UserError(f"--images: no images found in {', '.join(map(str, inputs))}")
    return paths


def model_input(path: Path, transform: A.BaseCompose, min_size: int) -> torch.Tensor:
    """An image file as the model sees it, (3, S, S): decoded as in training, then the evaluation transform."""
    return transform(image=load_rgb(path, min_size))["image"]


class _PredictionImages(Dataset):
    """Decoded, preprocessed images; an unreadable file yields a blank tensor and its error message."""

    def __init__(self, paths: Sequence[Path], preprocessing: Preprocessing):
        self.paths = list(paths)
        self.transform = eval_transform(preprocessing)
        self.min_size = preprocessing.img_size
        self.blank = torch.zeros(3, preprocessing.img_size, preprocessing.img_size)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        try:
            return model_input(self.paths[index], self.transform, self.min_size), ""
        except Exception as err:  # any decoder failure becomes an error row, not a crash
            return self.blank, f"{type(err).__name__}: {' '.join(str(err).split())}"


@torch.no_grad()
def predict_probabilities(module: ClassifierModule, images: torch.Tensor, tta: bool = False,
                          temperature: float = 1.0) -> torch.Tensor:
    """softmax(logits / temperature) (B, num_classes); with ``tta``, averaged with the horizontally flipped images."""
    probabilities = torch.softmax(module(images) / temperature, dim=1)
    if tta:
        flipped = torch.softmax(module(torch.flip(images, dims=[3])) / temperature, dim=1)
        probabilities = (probabilities + flipped) / 2
    return probabilities


def decision_rule(module: ClassifierModule, calibrated: bool = True) -> tuple[float, tuple[int, float] | None]:
    """What the checkpoint's evaluation decided: the temperature to divide the logits by (1 without
    ``calibrated``), and for a two-class model (positive label, threshold on the reported probability)."""
    decision = module.decision
    temperature = float(decision.get("temperature", 1.0)) if calibrated else 1.0
    if "threshold" not in decision:
        return temperature, None
    threshold = decision["threshold_calibrated"] if calibrated else decision["threshold"]
    return temperature, (module.class_names.index(decision["positive_class"]), float(threshold))


def predict_images(module: ClassifierModule, paths: Sequence[Path], batch_size: int = 32, top_k: int = 3,
                   tta: bool = False, num_workers: int = 0, device: str | torch.device = "cpu",
                   calibrated: bool = True) -> pd.DataFrame:
    """One row per path: ``path``, ``prediction``, ``probability``, ``top{i}_class``/``top{i}_probability``
    for i = 1..k, and ``error`` (empty unless the file could not be read, then the prediction is empty).

    Probabilities are calibrated with the checkpoint's temperature unless ``calibrated`` is False. A two-class
    checkpoint with an operating threshold predicts its positive class when that class's probability reaches the
    threshold (chosen on the validation split), not by the larger probability; ``probability`` is then the
    probability of the class predicted.
    """
    module = module.to(device).eval()
    classes = module.class_names
    temperature, operating = decision_rule(module, calibrated)
    top_k = max(1, min(top_k, len(classes)))
    loader = DataLoader(_PredictionImages(paths, module.preprocessing), batch_size=batch_size,
                        num_workers=num_workers)
    rows, start = [], 0
    for images, errors in loader:
        probabilities = predict_probabilities(module, images.to(device), tta=tta, temperature=temperature).cpu()
        values, indices = probabilities.topk(top_k, dim=1)
        if operating is None:
            predicted = indices[:, 0]
        else:
            positive, threshold = operating
            predicted = torch.where(probabilities[:, positive] >= threshold, positive, 1 - positive)
        for offset, error in enumerate(errors):
            row: dict = {"path": str(paths[start + offset])}
            if error:
                row.update({"prediction": "", "probability": None, "error": error})
            else:
                label = int(predicted[offset])
                row.update({"prediction": classes[label], "probability": float(probabilities[offset, label]),
                            "error": ""})
                for rank in range(top_k):
                    row[f"top{rank + 1}_class"] = classes[indices[offset, rank]]
                    row[f"top{rank + 1}_probability"] = float(values[offset, rank])
            rows.append(row)
        start += len(errors)
    columns = ["path", "prediction", "probability"] + [
        f"top{rank + 1}_{kind}" for rank in range(top_k) for kind in ("class", "probability")] + ["error"]
    return pd.DataFrame(rows).reindex(columns=columns)


def gradcam_target(module: ClassifierModule, layer: str | None = None) -> nn.Module | None:
    """The layer Grad-CAM explains: ``layer`` (a path such as ``model.features.7``) or the automatic choice,
    None for a model without convolutions.

    Raises:
        UserError: ``layer`` is not one Grad-CAM can use.
    """
    from litcls.gradcam import resolve_target_layer

    target = resolve_target_layer(module, layer, module.preprocessing.img_size)
    return None if target is None else target[1]


def gradcam_overlays(module: ClassifierModule, target: nn.Module, paths: Sequence[str | Path],
                     classes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM of class ``classes[i]`` for the image file ``paths[i]``, preprocessed as :func:`predict_images` does.

    Returns:
        The images as the model sees them, (N, S, S, 3) float in [0, 1], and their overlays, (N, S, S, 3) uint8.
    """
    from litcls.gradcam import gradcam_heatmaps, overlay, to_display

    pre = module.preprocessing
    transform = eval_transform(pre)
    param = next(module.parameters())
    images = torch.stack([model_input(Path(p), transform, pre.img_size) for p in paths]).to(param.device)
    heatmaps = gradcam_heatmaps(module, target, images, classes)
    shown = to_display(images, pre.mean, pre.std)
    return shown, overlay(shown, heatmaps)


def write_gradcam(module: ClassifierModule, table: pd.DataFrame, out_dir: Path, layer: str | None = None,
                  batch_size: int = 16) -> pd.Series:
    """Grad-CAM overlay of the predicted class for every readable image of ``table``, under ``out_dir``.

    Returns the overlay path of each row ('' for unreadable images), to add to the predictions table.

    Raises:
        UserError: the model has no convolutional layer, or ``layer`` is not one Grad-CAM can use.
    """
    from litcls.report.figures import plot_gradcam

    target = gradcam_target(module, layer)
    if target is None:
        raise UserError(f"--gradcam: model {module.hparams.model!r} has no convolutional layer to explain")
    index = {name: i for i, name in enumerate(module.class_names)}
    written = pd.Series("", index=table.index, dtype=object)
    readable = table.index[table["error"] == ""]
    for start in range(0, len(readable), batch_size):
        rows = table.loc[readable[start:start + batch_size]]
        shown, cams = gradcam_overlays(module, target, list(rows["path"]), [index[n] for n in rows["prediction"]])
        for (row_id, row), image, cam in zip(rows.iterrows(), shown, cams, strict=True):
            path = out_dir / f"{row_id:05d}_{Path(row['path']).stem}.png"
            plot_gradcam(image, cam, None, row["prediction"], row["probability"], path)
            written[row_id] = str(path)
    return written
