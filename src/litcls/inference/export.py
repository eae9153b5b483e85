"""Export a trained model to files that run without this repository: ONNX or TorchScript, plus a JSON card.

The ONNX graph takes decoded images as they come, uint8 pixels (N, H, W, 3) in RGB (or (N, H, W) grey for a model
trained with ``--in-chans 1``) at any height and width, and
returns probabilities (N, num_classes): training's resize, the normalisation, the network, the calibration
temperature and the softmax (multi-label: a temperature and a sigmoid per label) are inside it
(:class:`~litcls.inference.raw_image_model.RawImageClassifier`). The class names, the two-class operating threshold
(multi-label: each label's threshold) and the preprocessing are written into the file's metadata
(``metadata_props``, JSON values), so the file alone is enough to predict (``docs/examples/onnx_predict.py``).

The TorchScript file takes normalised images (N, C, H, W) and returns logits, as before; ``model.json`` beside
either file says how to use it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from litcls.data.image_size import format_image_size
from litcls.data.transforms import Preprocessing
from litcls.models.module import ClassifierModule
from litcls.suggest import did_you_mean

FORMATS = ("onnx", "torchscript")
DECODING = ("EXIF orientation applied; transparent pixels composited on white; greyscale repeated to RGB{grey}; a "
            "JPEG decoded at the smallest scale 1/2, 1/4 or 1/8 that keeps at least height x width pixels "
            "(Pillow: image.draft(image.mode, (width, height)), height and width from img_size)")
GREY = ", then RGB to grey as Pillow's convert('L') (L = 0.299 R + 0.587 G + 0.114 B)"
RESIZES = {
    "squash": "OpenCV INTER_AREA when the image is larger than img_size on either side, INTER_LINEAR (bilinear) "
              "otherwise, to img_size (height x width) regardless of the aspect ratio",
    "pad": "both sides scaled by min(height / h, width / w) (sides rounded half to even; INTER_AREA when the factor "
           "is below 1, else INTER_LINEAR), then padded with black to img_size, the image centred (offset (height "
           "- h') // 2, (width - w') // 2)",
    "crop": "both sides scaled by max(height / h, width / w) (sides rounded half to even; INTER_AREA when the factor "
            "is below 1, else INTER_LINEAR), then the centre cut to img_size (offset (h' - height) // 2, "
            "(w' - width) // 2)",
}


def pixel_kind(pre: Preprocessing) -> str:
    """What the exported graph takes, in words: ``uint8 RGB`` or ``uint8 grey``."""
    return "uint8 grey" if pre.in_chans == 1 else "uint8 RGB"


def input_layout(pre: Preprocessing) -> str:
    """The exported graph's input, in words, for the metadata and the model card."""
    if pre.in_chans == 1:
        return "uint8 (batch, height, width) grey pixels, any height and width"
    return "uint8 (batch, height, width, 3) RGB pixels, any height and width"


def onnx_metadata(module: ClassifierModule, calibrated: bool = True) -> dict[str, str]:
    """The ONNX file's ``metadata_props``: ``class_names``, ``preprocessing`` and ``decision``, JSON each.

    ``decision.temperature`` is the one inside the graph (1 with ``calibrated`` False); for two classes,
    ``decision.operating_threshold`` applies to the graph's probability of ``positive_class`` (the checkpoint's
    ``threshold_calibrated``, or its ``threshold`` for uncalibrated probabilities), and both are kept. Multi-label:
    ``decision.temperatures`` and ``decision.thresholds`` by label (:func:`label_decision_metadata`).
    """
    from litcls.inference.predictor import decision_rule

    if module.task.multi_hot:
        return metadata_of(module, label_decision_metadata(module, calibrated),
                           "probabilities (batch, num_labels), a sigmoid per label, in class_names order")
    temperature, operating = decision_rule(module, calibrated)
    decision = {"probabilities": "calibrated" if calibrated and "temperature" in module.decision else "model's own",
                "temperature": temperature}
    if operating is not None:
        decision |= {"positive_class": module.class_names[operating[0]], "operating_threshold": operating[1],
                     "rule": "positive_class when its probability >= operating_threshold, else the other class"}
    decision |= {key: value for key, value in module.decision.items()
                 if key in ("threshold", "threshold_calibrated", "threshold_rule")}
    return metadata_of(module, decision, "probabilities (batch, num_classes) in class_names order")


def label_decision_metadata(module: ClassifierModule, calibrated: bool) -> dict:
    """Multi-label ``decision``: the per-label temperatures inside the graph and each label's threshold on the
    graph's probability (the checkpoint's calibrated thresholds, or its own for uncalibrated probabilities)."""
    from litcls.inference.predictor import label_decision

    temperatures, thresholds = label_decision(module, calibrated)
    names = module.class_names
    decision = {"probabilities": "calibrated per label" if calibrated and "temperatures" in module.decision
                else "model's own", "activation": "sigmoid",
                "temperatures": dict(zip(names, map(float, temperatures), strict=True)),
                "thresholds": dict(zip(names, thresholds, strict=True)),
                "rule": "a label is positive when its probability >= its threshold (any number of labels, or none)"}
    if "threshold_rule" in module.decision:
        decision["threshold_rule"] = module.decision["threshold_rule"]
    else:
        decision["note"] = "this checkpoint holds no thresholds chosen on validation: 0.5 for every label"
    return decision


def metadata_of(module: ClassifierModule, decision: dict, output: str) -> dict[str, str]:
    """The metadata of :func:`onnx_metadata` around a task's ``decision``."""
    pre = module.preprocessing
    preprocessing = {"input": input_layout(pre), "decoding": DECODING.format(grey=GREY if pre.in_chans == 1 else ""),
                     "img_size": format_image_size(pre.img_size), "height": pre.img_size[0],
                     "width": pre.img_size[1], "in_chans": pre.in_chans, "resize_mode": pre.resize,
                     "resize": f"inside the graph, as training: {RESIZES[pre.resize]}; rounded to whole 8-bit levels",
                     "mean": list(pre.mean), "std": list(pre.std),
                     "normalisation": "inside the graph: (pixel / 255 - mean) / std"}
    return {"class_names": json.dumps(module.class_names, ensure_ascii=False),
            "preprocessing": json.dumps(preprocessing), "decision": json.dumps(decision, ensure_ascii=False),
            "output": output, "task": module.task.name, "architecture": str(module.hparams.model)}


def read_onnx_metadata(path: Path) -> dict:
    """The ``metadata_props`` of an exported file, JSON values decoded."""
    import onnx

    props = {prop.key: prop.value for prop in onnx.load(str(path), load_external_data=False).metadata_props}
    return {key: json.loads(value) if key in ("class_names", "preprocessing", "decision") else value
            for key, value in props.items()}


def write_model_card(module: ClassifierModule, path: Path, model_file: str, metadata: dict[str, str] | None) -> None:
    if metadata is not None:  # ONNX: the card repeats the file's metadata, for readers without ONNX tools
        card = {"model_file": model_file, **{key: json.loads(value) if key in ("class_names", "preprocessing",
                                                                               "decision") else value
                                             for key, value in metadata.items()}}
    else:
        card = {
            "model_file": model_file,
            "architecture": module.hparams.model,
            "class_names": module.class_names,
            "input": f"float32 tensor (batch, {module.preprocessing.in_chans}, height, width): "
                     f"{'grey' if module.preprocessing.in_chans == 1 else 'RGB'} resized to img_size (height, width) "
                     f"by --resize {module.preprocessing.resize}, scaled to [0, 1], then (x - mean) / std per channel",
            "output": module.task.output_note,
            "preprocessing": module.preprocessing.to_dict(),
        }
    path.write_text(json.dumps(card, indent=2, ensure_ascii=False), encoding="utf-8")


def export_onnx(module: ClassifierModule, path: Path, calibrated: bool = True) -> dict[str, str]:
    """Write the raw-pixel graph with dynamic batch, height and width, and its metadata; return the metadata."""
    from litcls.inference.predictor import decision_rule, label_decision
    from litcls.inference.raw_image_model import RawImageClassifier

    temperature = (label_decision(module, calibrated)[0] if module.task.multi_hot
                   else decision_rule(module, calibrated)[0])
    graph = RawImageClassifier(module.cpu(), temperature).eval()
    metadata = onnx_metadata(module, calibrated)
    write_raw_pixel_onnx(graph, module.preprocessing, path, metadata)
    return metadata


def write_raw_pixel_onnx(graph: torch.nn.Module, pre: Preprocessing, path: Path, metadata: dict[str, str]) -> None:
    """Export ``graph`` (uint8 pixels in, probabilities out) with dynamic batch, height and width, traced on pixels of
    ``pre``'s channels a little larger than its size, and store ``metadata`` in the file."""
    import onnx

    channels = () if pre.in_chans == 1 else (3,)  # a grey graph takes (N, H, W)
    example = torch.randint(0, 256, (2, pre.img_size[0] + 7, pre.img_size[1] + 3, *channels), dtype=torch.uint8)
    dim = torch.export.Dim
    torch.onnx.export(graph, (example,), str(path), dynamo=True, external_data=False, input_names=["pixels"],
                      output_names=["probabilities"],
                      dynamic_shapes=({0: dim("batch", min=1), 1: dim("height", min=1), 2: dim("width", min=1)},))
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, metadata)
    onnx.save(model, str(path))


def export_model(module: ClassifierModule, out_dir: Path, fmt: str, calibrated: bool = True) -> Path:
    """Write ``model.onnx`` or ``model.ts`` and ``model.json`` into ``out_dir``; return the model file.

    Args:
        calibrated: ONNX: the graph divides the logits by the checkpoint's calibration temperature.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}{did_you_mean(fmt, FORMATS)}; valid formats: "
                         f"{', '.join(FORMATS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    module = module.eval().cpu()
    if fmt == "onnx":
        path = out_dir / "model.onnx"
        metadata = export_onnx(module, path, calibrated)
    else:
        path, metadata = out_dir / "model.ts", None
        with torch.no_grad():
            torch.jit.save(torch.jit.trace(module.model, torch.randn(2, *module.preprocessing.input_shape)), str(path))
    write_model_card(module, out_dir / "model.json", path.name, metadata)
    return path


def max_difference_to_pytorch(module: ClassifierModule, model_file: Path, images: torch.Tensor) -> float:
    """TorchScript: largest absolute logit difference between the exported file and the module on ``images``."""
    with torch.no_grad():
        expected = module.model.eval().cpu()(images).numpy()
        actual = torch.jit.load(str(model_file))(images).numpy()
    return float(np.abs(actual - expected).max())
