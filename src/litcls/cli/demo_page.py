"""The demo page (``demo.py``): one image in, its top classes (multi-label: a bar per label with its threshold
marked, and the labels called positive) and a Grad-CAM overlay out, in Gradio.

The page predicts with :func:`litcls.inference.predictor.predict_images`, the function ``predict.py`` uses, on the very
file that was uploaded (the image events skip Gradio's preprocessing, which would re-encode or convert it), so
the page shows what ``predict.py --images FILE`` writes for that file. A file that is not an image becomes a
message on the page, as it becomes an error row in ``predictions.csv``; the app keeps serving.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from litcls.inference.ensemble_calibration import EnsembleDecision
from litcls.inference.predictor import decided_column, decision_rule, gradcam_overlays, predict_images
from litcls.models.module import ClassifierModule

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home: the demo must work offline

PREDICTED = ""  # the class picker's value for "the predicted class"
CAM_MIN_SIZE = 256  # overlays are enlarged (nearest neighbour) to at least this many pixels to be legible
# small images (8x8 digits) fill their box with visible pixels instead of sitting blurred in a corner
CSS = "#image-input img, #gradcam img {width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated}"


@dataclass(frozen=True)
class PageResult:
    """What the page shows for one image: bars, one line of text, and the Grad-CAM overlay (None on error)."""

    confidences: dict[str, float] | None
    summary: str
    overlay: np.ndarray | None
    overlay_label: str = "Grad-CAM"
    label_bars: str = ""  # multi-label: the HTML of :func:`label_bars_html` (the top-class bars stay empty)


def label_bars_html(names: list[str], probabilities: list[float], thresholds: list[float]) -> str:
    """Multi-label: a bar per label, its probability filled, its threshold a vertical mark, the labels called
    positive (probability at or above the threshold) in bold and marked ``called``; in label order."""
    rows = []
    for name, probability, threshold in zip(names, probabilities, thresholds, strict=True):
        called = probability >= threshold
        rows.append(
            f"<div class='label-bar{' called' if called else ''}' data-label='{html.escape(name, quote=True)}' "
            f"data-probability='{probability:.6f}' data-threshold='{threshold:.6f}' "
            "style='display:flex;align-items:center;gap:8px;margin:3px 0'>"
            f"<span style='width:30%;overflow-wrap:anywhere;{'font-weight:bold' if called else ''}'>"
            f"{html.escape(name)}</span>"
            "<span style='position:relative;flex:1;height:14px;background:#e5e7eb;border-radius:3px'>"
            f"<span style='position:absolute;left:0;top:0;bottom:0;width:{100 * probability:.2f}%;border-radius:3px;"
            f"background:{'#2563eb' if called else '#9ca3af'}'></span>"
            f"<span class='threshold-mark' title='threshold {threshold:.4f}' style='position:absolute;"
            f"left:{100 * threshold:.2f}%;top:-3px;bottom:-3px;width:2px;background:#dc2626'></span></span>"
            f"<span style='width:7em;text-align:right'>{probability:.3f} / {threshold:.3f}</span></div>")
    return ("<div id='label-bars'><div style='font-size:85%'>probability / threshold per label (red mark: the "
            "label's threshold; blue: called positive)</div>" + "".join(rows) + "</div>")


def explain_labels(module: ClassifierModule, target: nn.Module | None, path: str | Path,
                   explain_class: str = PREDICTED) -> PageResult:
    """A multi-label checkpoint's page for one readable-or-not file: the bars of every label, the labels called
    positive, and the Grad-CAM of ``explain_class`` (default: the most probable label called, else the most
    probable label)."""
    from litcls.inference.predictor import label_decision

    row = predict_images(module, [Path(path)]).iloc[0]
    if row["error"]:
        error = row["error"].replace(str(path), Path(path).name)
        return PageResult(None, f"**Cannot read this file as an image** ({_markdown_text(error)}). "
                                "Upload a PNG, JPEG, BMP, TIFF or WebP image.", None)
    names = module.class_names
    probabilities = [float(row[f"prob_{name}"]) for name in names]
    called = [name for name in names if int(row[f"pred_{name}"]) == 1]
    bars = label_bars_html(names, probabilities, label_decision(module)[1])
    listed = ", ".join(f"<span class='called-label'>{_markdown_text(name)}</span>" for name in called)
    summary = (f"**Labels called positive ({len(called)} of {len(names)}):** <span id='called-labels'>"
               f"{listed or 'none'}</span>")
    if target is None:
        return PageResult(None, summary + " (this model has no convolution for Grad-CAM)", None, label_bars=bars)
    ranked = sorted(called or names, key=lambda name: -probabilities[names.index(name)])
    explained = explain_class or ranked[0]
    _, overlays = gradcam_overlays(module, target, [path], [names.index(explained)])
    return PageResult(None, summary, _enlarge(overlays[0]), f"Grad-CAM: {explained}", label_bars=bars)


def _markdown_text(text: str) -> str:
    """Class names and file names shown literally, whatever characters they hold."""
    escaped = html.escape(text, quote=False)
    for char in "\\`*_{}[]()#+-.!|~":
        escaped = escaped.replace(char, "\\" + char)
    return escaped


def _enlarge(image: np.ndarray, min_size: int = CAM_MIN_SIZE) -> np.ndarray:
    factor = max(1, -(-min_size // max(image.shape[:2])))
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


def explain_image(module: ClassifierModule | list[ClassifierModule], target: nn.Module | None,
                  path: str | Path | None, explain_class: str = PREDICTED, top_k: int = 5,
                  ensemble: EnsembleDecision | None = None) -> PageResult:
    """Predict one image file and explain ``explain_class`` (the predicted class when empty).

    Args:
        module: the checkpoint's module, in eval mode; or the members of an ensemble (with ``ensemble``, its
            decision), which get no overlay.
        target: the layer Grad-CAM explains, or None for a model without convolutions (no overlay then).
        path: the uploaded file; None when the input was cleared.
        explain_class: a class name, or :data:`PREDICTED`.
        top_k: how many classes get a bar.
    """
    if path is None:
        return PageResult(None, "", None)
    if not isinstance(module, list) and module.task.multi_hot:
        return explain_labels(module, target, path, explain_class)
    row = predict_images(module, [Path(path)], top_k=top_k, ensemble=ensemble).iloc[0]
    if row["error"]:
        error = row["error"].replace(str(path), Path(path).name)  # Gradio's cache path means nothing to a user
        return PageResult(None, f"**Cannot read this file as an image** ({_markdown_text(error)}). "
                                "Upload a PNG, JPEG, BMP, TIFF or WebP image.", None)
    confidences = {row[f"top{rank}_class"]: float(row[f"top{rank}_probability"])
                   for rank in range(1, top_k + 1) if f"top{rank}_class" in row}
    predicted = row[decided_column(row)]
    summary = (f"**Predicted class:** <span id='predicted-class'>{_markdown_text(predicted)}</span>, "
               f"probability <span id='predicted-probability'>{row[f'prob_{predicted}']:.6f}</span>")
    if isinstance(module, list):
        return PageResult(confidences, summary, None)
    if target is None:
        return PageResult(confidences, summary + " (this model has no convolution for Grad-CAM)", None)
    explained = explain_class or predicted
    _, overlays = gradcam_overlays(module, target, [path], [module.class_names.index(explained)])
    return PageResult(confidences, summary, _enlarge(overlays[0]), f"Grad-CAM: {explained}")


def decision_note(module: ClassifierModule, ensemble: EnsembleDecision | None = None, members: int = 1) -> str:
    """What the page applies from the checkpoint's evaluation, as predict.py does: the temperature its
    probabilities are calibrated with, and a two-class model's operating threshold (an ensemble's: those its run
    fitted on out-of-fold predictions)."""
    if members > 1:
        ensemble = ensemble or EnsembleDecision()
        temperature, operating = ensemble.temperature, ensemble.operating
        parts = [f"the mean of {members} members' probabilities, calibrated with temperature {temperature:.3f} "
                 "(fitted on out-of-fold predictions, never on test); no Grad-CAM for an ensemble"]
    elif module.task.multi_hot:
        rule = module.decision.get("threshold_rule")
        calibrated = "temperatures" in module.decision
        return ("\n\nA sigmoid per label" + (", calibrated per label by temperatures fitted on the validation split"
                                              if calibrated else "")
                + "; a label is called positive where its probability reaches its threshold ("
                + (f"chosen per label on the validation split by {_markdown_text(rule)})" if rule
                   else "0.5: this checkpoint holds no thresholds)") + ".")
    else:
        temperature, operating = decision_rule(module)
        parts = [f"probabilities calibrated with temperature {temperature:.3f} (fitted on the validation split)"
                 if temperature != 1.0 else ""]
    if operating is not None:
        positive, threshold = operating
        parts.append(f"{_markdown_text(module.class_names[positive])} is predicted when its probability reaches "
                     f"<span id='threshold'>{threshold:.4f}</span> (threshold chosen on the validation split)")
    parts = [part for part in parts if part]
    return ("\n\n" + "; ".join(parts) + ".") if parts else ""


def build_app(model: ClassifierModule | list[ClassifierModule], target: nn.Module | None,
              examples: list[tuple[Path, str]], checkpoint: Path, top_k: int = 5,
              ensemble: EnsembleDecision | None = None):
    """The Gradio page: image input (upload or webcam), class picker, examples; bars, text and Grad-CAM out.

    Launch it with ``css=CSS``.

    Args:
        model: the checkpoint's module, or the members of an ensemble (decided by ``ensemble``).
        target: the layer Grad-CAM explains; None hides the overlay and the class picker.
        examples: (image file, its true class) pairs shown below the input.
        checkpoint: named under the heading.
    """
    import gradio as gr

    module = model[0] if isinstance(model, list) else model
    members = len(model) if isinstance(model, list) else 1
    top_k = max(1, min(top_k, len(module.class_names)))

    def uploaded_file(payload: dict | None) -> str | None:
        """The uploaded file itself: Gradio's own preprocessing would open it with PIL first, failing with an
        opaque error on a non-image, so the image events skip it (Gradio has checked the path is an upload)."""
        if not payload:
            return None
        if payload.get("path") and not str(payload.get("url") or "").startswith("data:"):
            return payload["path"]
        return image.preprocess(image.data_model.model_validate(payload))  # a data URL (API client) -> PNG file

    multi = module.task.multi_hot

    def predict(payload: dict | None, explain_class: str):
        result = explain_image(model, target, uploaded_file(payload), explain_class, top_k, ensemble)
        return (result.confidences, result.summary, gr.Image(value=result.overlay, label=result.overlay_label),
                result.label_bars)

    # uploads are copied into Gradio's cache (/tmp/gradio): deleted after an hour, the rest when Ctrl+C stops the demo
    with gr.Blocks(title="litcls demo", delete_cache=(3600, 3600)) as app:
        kind = f"an ensemble of {members} " if members > 1 else ""
        gr.Markdown(f"## litcls demo: {kind}{_markdown_text(module.hparams.model)}, {len(module.class_names)} "
                    f"{'labels' if multi else 'classes'}\n{'Run' if members > 1 else 'Checkpoint'} "
                    f"{_markdown_text(str(checkpoint))}. Upload an image or take one with the webcam."
                    + decision_note(module, ensemble, members),
                    elem_id="heading")
        with gr.Row():
            with gr.Column():
                image = gr.Image(sources=["upload", "webcam"], type="filepath", image_mode=None, format="png",
                                 label="Image", elem_id="image-input", height=320)
                first = "most probable label called" if multi else "predicted class"
                explain = gr.Dropdown([(first, PREDICTED)] + [(n, n) for n in module.class_names],
                                      value=PREDICTED, label="Grad-CAM of", elem_id="explain-class",
                                      visible=target is not None)
                if examples:
                    gr.Examples([[str(path)] for path, _ in examples], inputs=[image],
                                label="Test images of the run (click one)")
            with gr.Column():
                summary = gr.Markdown(elem_id="summary")
                bars = gr.Label(num_top_classes=top_k, label="Top classes", elem_id="top-classes", visible=not multi)
                label_bars = gr.HTML(elem_id="label-bars-box", visible=multi)
                cam = gr.Image(label="Grad-CAM", type="numpy", interactive=False, elem_id="gradcam",
                               visible=target is not None, height=320)
        # one prediction at a time: Grad-CAM hooks on the one shared model must not interleave
        for event in (image.change, explain.change):
            event(predict, inputs=[image, explain], outputs=[bars, summary, cam, label_bars], preprocess=False,
                  concurrency_limit=1, show_progress="minimal")
    return app
