"""An ensemble exported as one ONNX graph: raw uint8 pixels in, the ensemble's probabilities out.

Inside: every member's own resize, normalisation and network with its softmax (each member as
:class:`~litcls.inference.raw_image_model.RawImageClassifier`, uncalibrated), the mean of their probabilities with
equal weights, then the ensemble's temperature on the log of that mean and a softmax, as ``predict.py`` computes
them (:mod:`litcls.inference.ensemble_calibration`). The metadata holds the class names, each member's
preprocessing and the ensemble's decision (temperature, two-class threshold).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from litcls.data.image_size import format_image_size
from litcls.evaluation.ensemble_calibration import TINY
from litcls.inference.ensemble_calibration import EnsembleDecision
from litcls.inference.export import DECODING, GREY, RESIZES, input_layout, write_model_card, write_raw_pixel_onnx
from litcls.inference.raw_image_model import RawImageClassifier
from litcls.models.module import ClassifierModule


class RawImageEnsemble(nn.Module):
    """uint8 pixels (N, H, W, 3), or (N, H, W) grey -> softmax(log(mean of the members' probabilities) /
    temperature)."""

    def __init__(self, members: Sequence[ClassifierModule], temperature: float = 1.0):
        super().__init__()
        self.members = nn.ModuleList(RawImageClassifier(member.cpu(), 1.0) for member in members)
        self.task = members[0].task
        self.register_buffer("temperature", torch.tensor(float(temperature), dtype=torch.float32))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        mean = torch.stack([member(pixels) for member in self.members]).mean(dim=0)
        return self.task.probabilities(torch.log(mean.clamp_min(TINY)), self.temperature)


def ensemble_metadata(members: Sequence[ClassifierModule], ensemble: EnsembleDecision) -> dict[str, str]:
    """The ONNX file's ``metadata_props`` (JSON values): ``class_names``, ``preprocessing`` (each member's),
    ``decision`` (the ensemble's temperature, inside the graph, and two-class threshold, to apply outside)."""
    classes = members[0].class_names
    decision = {"probabilities": COMBINE, "members": len(members), "temperature": ensemble.temperature,
                "source": ensemble.source}
    if ensemble.operating is not None:
        positive, threshold = ensemble.operating
        decision |= {"positive_class": classes[positive], "operating_threshold": threshold,
                     "rule": "positive_class when its probability >= operating_threshold, else the other class"}
    pres = [member.preprocessing for member in members]
    largest = max(pres, key=lambda pre: pre.img_size[0] * pre.img_size[1])
    preprocessing = {"input": input_layout(largest),
                     "decoding": DECODING.format(grey=GREY if largest.in_chans == 1 else "").replace(
                         "img_size", "the largest member's img_size"),
                     "img_size": format_image_size(largest.img_size), "in_chans": largest.in_chans,
                     "resize": "inside the graph, per member as its training: "
                               + "; ".join(f"{mode}: {RESIZES[mode]}" for mode in sorted({pre.resize for pre in pres})),
                     "members": [{"img_size": format_image_size(pre.img_size), "resize_mode": pre.resize,
                                  "mean": list(pre.mean), "std": list(pre.std)} for pre in pres],
                     "normalisation": "inside the graph, per member: (pixel / 255 - mean) / std"}
    return {"class_names": json.dumps(classes, ensure_ascii=False), "preprocessing": json.dumps(preprocessing),
            "decision": json.dumps(decision, ensure_ascii=False),
            "output": "probabilities (batch, num_classes) in class_names order",
            "architecture": " + ".join(str(member.hparams.model) for member in members)}


COMBINE = ("ensemble: softmax(log(mean of the members' softmax probabilities) / temperature); temperature 1 is the "
           "plain mean")


def export_ensemble(members: Sequence[ClassifierModule], ensemble: EnsembleDecision | None, out_dir: Path) -> Path:
    """Write ``model.onnx`` (dynamic batch, height and width) and ``model.json`` into ``out_dir``; return the file."""
    ensemble = ensemble or EnsembleDecision()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "model.onnx"
    graph = RawImageEnsemble([member.eval() for member in members], ensemble.temperature).eval()
    largest = max((member.preprocessing for member in members), key=lambda pre: pre.img_size[0] * pre.img_size[1])
    metadata = ensemble_metadata(members, ensemble)
    write_raw_pixel_onnx(graph, largest, path, metadata)
    write_model_card(members[0], out_dir / "model.json", path.name, metadata)
    return path
