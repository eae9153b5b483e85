"""Check an exported ONNX file against ``predict.py`` on real image files: ONNX Runtime on the decoded pixels, the
checkpoint through :func:`~litcls.inference.predictor.predict_images` on the same files.

Random tensors would test the network only; decoded files also test the resize and normalisation in the graph,
where exported classifiers usually go wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from litcls.data.transforms import Preprocessing
from litcls.models.module import ClassifierModule

# what an export must reach on the checked images to be kept: the figures the resize is designed to meet
MIN_AGREEMENT = 0.98
MAX_MEAN_DIFFERENCE = 0.01


def onnx_probabilities(model_file: Path, paths: Sequence[Path], pre: Preprocessing) -> np.ndarray:
    """(N, C) probabilities of the ONNX graph on each file, decoded as training decodes it, (H, W, 3) RGB or
    (H, W) grey (one image per call: the sizes differ)."""
    import onnxruntime

    from litcls.data.decode import load_image

    def pixels(path: Path) -> np.ndarray:
        image = load_image(path, pre.img_size, pre.in_chans)
        return image[:, :, 0] if pre.in_chans == 1 else image

    session = onnxruntime.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"pixels": pixels(path)[None]})[0] for path in paths])


def decisions(probabilities: np.ndarray, operating: tuple[int, float] | None, classes: list[str]) -> np.ndarray:
    """The class each row is called, as predict.py decides: the operating threshold's call for two classes (its
    ``predicted_at_threshold``), else the most probable class."""
    from litcls.tasks import SingleLabel

    return np.asarray(classes)[SingleLabel().decide(probabilities, dict([operating]) if operating else None)]


def compare_with_predict(module: ClassifierModule | Sequence[ClassifierModule], model_file: Path,
                         paths: Sequence[Path], calibrated: bool = True, batch_size: int = 32,
                         ensemble=None) -> dict:
    """Agreement of the ONNX file with ``predict.py`` on the readable ones of ``paths`` (``module`` several
    members: an ensemble with the decision ``ensemble``).

    Returns:
        ``images`` compared, ``agreement`` (fraction of equal decisions; multi-label: of equal per-label calls,
        images x labels), ``max_difference`` and
        ``mean_difference`` (per image the largest absolute difference over the classes' probabilities; its
        maximum and mean over the images), ``per_image`` (that difference, in the order of the readable paths) and
        ``paths`` (the readable paths).
    """
    from litcls.evaluation.predictions import probabilities_of
    from litcls.inference.predictor import decision_rule, label_decision, predict_images

    members = [module] if isinstance(module, ClassifierModule) else list(module)
    table = predict_images(module, paths, batch_size=batch_size, calibrated=calibrated, ensemble=ensemble)
    read = [Path(path) for path, error in zip(table["path"], table["error"], strict=True) if not error]
    classes = members[0].class_names
    expected = probabilities_of(table[table["error"] == ""], classes)
    # decoded at the largest member's size (large JPEGs are drafted down to it), as predict.py decodes them
    largest = max((member.preprocessing for member in members), key=lambda pre: pre.img_size[0] * pre.img_size[1])
    actual = onnx_probabilities(model_file, read, largest).astype(np.float64)
    difference = np.abs(actual - expected).max(axis=1) if len(read) else np.zeros(0)
    if members[0].task.multi_hot:  # every (image, label) call: a label's decision is what a multi-label user reads
        thresholds = dict(enumerate(label_decision(members[0], calibrated)[1]))
        agree = members[0].task.decide(actual, thresholds) == members[0].task.decide(expected, thresholds)
    else:
        if len(members) == 1:
            operating = decision_rule(members[0], calibrated)[1]
        else:
            operating = ensemble.operating if ensemble is not None else None
        agree = decisions(actual, operating, classes) == decisions(expected, operating, classes)
    decided = {"decided": "per-label decisions"} if members[0].task.multi_hot else {}
    return {**decided, "images": len(read), "agreement": float(agree.mean()) if len(read) else float("nan"),
            "max_difference": float(difference.max(initial=0.0)),
            "mean_difference": float(difference.mean()) if len(read) else float("nan"),
            "per_image": difference, "paths": read}


def describe(result: dict) -> str:
    """One line: how closely the export agreed, on how many images."""
    return (f"ONNX Runtime on the decoded pixels of {result['images']} image files agrees with predict.py on "
            f"{result['agreement']:.1%} of {result.get('decided', 'decisions')}; probability difference largest "
            f"{result['max_difference']:.2e}, "
            f"mean {result['mean_difference']:.2e}")


def acceptable(result: dict) -> bool:
    return result["agreement"] >= MIN_AGREEMENT and result["mean_difference"] <= MAX_MEAN_DIFFERENCE
