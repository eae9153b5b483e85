"""Checkpoint -> model, and images on disk -> class probabilities, with nothing repeated from training."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from litcls.data.dataset import load_rgb
from litcls.data.scan import is_image
from litcls.data.transforms import Preprocessing, eval_transform
from litcls.errors import UserError
from litcls.models.module import ClassifierModule


def load_checkpoint(path: str | Path, trust: bool = False) -> ClassifierModule:
    """Rebuild the trained module from a checkpoint written by ``train.py``, in eval mode on the CPU.

    The checkpoint is read with ``torch.load(weights_only=True)``, which refuses anything but tensors and
    plain containers, so a checkpoint from a stranger cannot run code. ``trust=True`` lifts that restriction
    for checkpoints you made yourself with other tools.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--ckpt: no such file: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as err:
        raise UserError(f"--ckpt: {path} holds objects other than tensors ({' '.join(str(err).split())[:200]}); "
                        "load it with --trust-checkpoint only if you trust where it came from") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise UserError(f"--ckpt: {path} is not a readable checkpoint: {err}") from None
    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not hparams or "class_names" not in hparams:
        raise UserError(f"--ckpt: {path} is not a checkpoint written by train.py (no class names inside)")
    module = ClassifierModule(**hparams)
    module.load_state_dict(checkpoint["state_dict"])
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
            return self.transform(image=load_rgb(self.paths[index], self.min_size))["image"], ""
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


def write_gradcam(module: ClassifierModule, table: pd.DataFrame, out_dir: Path, layer: str | None = None,
                  batch_size: int = 16) -> pd.Series:
    """Grad-CAM overlay of the predicted class for every readable image of ``table``, under ``out_dir``.

    Returns the overlay path of each row ('' for unreadable images), to add to the predictions table.

    Raises:
        UserError: the model has no convolutional layer, or ``layer`` is not one Grad-CAM can use.
    """
    from litcls.gradcam import gradcam_heatmaps, overlay, resolve_target_layer, to_display
    from litcls.report.figures import plot_gradcam

    pre = module.preprocessing
    target = resolve_target_layer(module, layer, pre.img_size)
    if target is None:
        raise UserError(f"--gradcam: model {module.hparams.model!r} has no convolutional layer to explain")
    transform = eval_transform(pre)
    index = {name: i for i, name in enumerate(module.class_names)}
    param = next(module.parameters())
    written = pd.Series("", index=table.index, dtype=object)
    readable = table.index[table["error"] == ""]
    for start in range(0, len(readable), batch_size):
        rows = table.loc[readable[start:start + batch_size]]
        images = torch.stack([transform(image=load_rgb(p, pre.img_size))["image"]
                              for p in rows["path"]]).to(param.device)
        heatmaps = gradcam_heatmaps(module, target[1], images, [index[name] for name in rows["prediction"]])
        shown = to_display(images, pre.mean, pre.std)
        for (row_id, row), image, cam in zip(rows.iterrows(), shown, overlay(shown, heatmaps), strict=True):
            path = out_dir / f"{row_id:05d}_{Path(row['path']).stem}.png"
            plot_gradcam(image, cam, None, row["prediction"], row["probability"], path)
            written[row_id] = str(path)
    return written
