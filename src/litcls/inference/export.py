"""Export a trained model to files that run without this repository: ONNX or TorchScript, plus a JSON card.

The exported graph takes normalised images (B, 3, H, W) and returns logits (B, num_classes), with a dynamic
batch size. ``model.json`` beside it says how to preprocess an image and how to name the outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from litcls.models.module import ClassifierModule
from litcls.suggest import did_you_mean

FORMATS = ("onnx", "torchscript")


def write_model_card(module: ClassifierModule, path: Path, model_file: str) -> None:
    card = {
        "model_file": model_file,
        "architecture": module.hparams.model,
        "class_names": module.class_names,
        "input": "float32 tensor (batch, 3, img_size, img_size): RGB resized to img_size x img_size, "
                 "scaled to [0, 1], then (x - mean) / std per channel",
        "output": "logits (batch, num_classes); softmax gives probabilities in class_names order",
        "preprocessing": module.preprocessing.to_dict(),
    }
    path.write_text(json.dumps(card, indent=2, ensure_ascii=False), encoding="utf-8")


def export_model(module: ClassifierModule, out_dir: Path, fmt: str) -> Path:
    """Write ``model.onnx`` or ``model.ts`` and ``model.json`` into ``out_dir``; return the model file."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}{did_you_mean(fmt, FORMATS)}; valid formats: "
                         f"{', '.join(FORMATS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    model = module.model.eval().cpu()
    size = module.preprocessing.img_size
    example = torch.randn(2, 3, size, size)
    if fmt == "onnx":
        path = out_dir / "model.onnx"
        torch.onnx.export(model, (example,), str(path), dynamo=True, external_data=False,
                          input_names=["images"], output_names=["logits"],
                          dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    else:
        path = out_dir / "model.ts"
        with torch.no_grad():
            torch.jit.save(torch.jit.trace(model, example), str(path))
    write_model_card(module, out_dir / "model.json", path.name)
    return path


def max_difference_to_pytorch(module: ClassifierModule, model_file: Path, images: torch.Tensor) -> float:
    """Largest absolute logit difference between the exported file and the PyTorch module on ``images``."""
    with torch.no_grad():
        expected = module.model.eval().cpu()(images).numpy()
    if model_file.suffix == ".onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
        actual = session.run(None, {"images": images.numpy()})[0]
    else:
        with torch.no_grad():
            actual = torch.jit.load(str(model_file))(images).numpy()
    return float(np.abs(actual - expected).max())
