"""Matplotlib figures of a run: confusion matrix, learning curves, Grad-CAM panels, ROC, precision-recall and
reliability diagrams.

Each function draws one figure, writes it as PNG and returns its pixels (H, W, 3) uint8 for the loggers.
Figures are ``matplotlib.figure.Figure`` objects rendered on the Agg canvas, never through pyplot's global
state, so they work headless and inside a notebook without switching its backend.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from litcls.report.fonts import drawable_labels

CURVE_PANELS = (("loss", "loss"), ("acc", "accuracy"), ("f1_macro", "macro F1"))


@contextmanager
def _drawing(settings: dict):
    """Font settings for creating and drawing a figure (tick labels are made at draw time)."""
    import matplotlib

    with matplotlib.rc_context(settings), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        yield


def _figure(width: float, height: float, layout: str | None = "constrained"):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout=layout)


def _render(figure, path: Path, dpi: int = 100) -> np.ndarray:
    """Draw once on the Agg canvas; the same pixels go to the PNG file and to the caller. The figure's title is
    also the PNG's Title text, which file browsers show and which can be searched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image, PngImagePlugin

    path.parent.mkdir(parents=True, exist_ok=True)
    canvas = FigureCanvasAgg(figure)
    figure.set_dpi(dpi)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    info = PngImagePlugin.PngInfo()
    if figure.get_suptitle():
        info.add_itxt("Title", figure.get_suptitle())  # iTXt: UTF-8, so a Korean class name survives
    Image.fromarray(pixels).save(path, optimize=False, pnginfo=info)
    return pixels


def plot_confusion_matrix(confusion: np.ndarray, class_names: list[str], title: str, path: Path) -> np.ndarray:
    """Counts (left) and row-normalised counts, i.e. recall per cell (right); rows true, columns predicted."""
    from sklearn.metrics import ConfusionMatrixDisplay

    labels, settings = drawable_labels(class_names)
    count = len(class_names)
    longest = max(map(len, labels))
    side = min(30.0, max(4.5, 0.45 * count + 0.06 * longest + 2.0))  # inches per panel
    label_size = max(5.0, min(10.0, 240 / count))
    value_size = max(4.0, min(9.0, 160 / count))
    rows = confusion.sum(axis=1, keepdims=True)
    normalised = np.divide(confusion, rows, out=np.zeros(confusion.shape), where=rows > 0)
    with _drawing(settings):
        figure = _figure(2 * side, side + 0.4)
        axes = figure.subplots(1, 2)
        for ax, values, fmt, name in ((axes[0], confusion, "d", "counts"),
                                      (axes[1], normalised, ".2f", "row-normalised (recall)")):
            ConfusionMatrixDisplay(values, display_labels=labels).plot(
                ax=ax, include_values=count <= 30, values_format=fmt, colorbar=False, cmap="Blues",
                xticks_rotation=90 if count * longest > 40 else 0, text_kw={"fontsize": value_size})
            ax.set_title(name)
            ax.tick_params(labelsize=label_size)
            ax.set_xlabel("predicted class")
            ax.set_ylabel("true class")
        figure.suptitle(f"{title}: {int(confusion.sum())} images")
        return _render(figure, path)


def plot_curves(metrics: pd.DataFrame, path: Path) -> np.ndarray:
    """Loss, accuracy and macro F1 per epoch for train and val, from ``metrics.csv``."""
    from matplotlib.ticker import MaxNLocator

    with _drawing({}):
        figure = _figure(13, 3.6)
        axes = figure.subplots(1, len(CURVE_PANELS))
        for ax, (metric, name) in zip(axes, CURVE_PANELS, strict=True):
            for stage, style in (("train", "-o"), ("val", "-s")):
                column = f"{stage}/{metric}"
                if column in metrics:
                    rows = metrics[["epoch", column]].dropna()
                    ax.plot(rows["epoch"], rows[column], style, markersize=3, label=stage)
            ax.set_title(name)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend()
        return _render(figure, path)


def plot_gradcam(image: np.ndarray, overlay: np.ndarray, true: int | None, predicted: int, probability: float,
                 labels: tuple[list[str], dict], path: Path, title: str | None = None) -> np.ndarray:
    """The image beside its Grad-CAM overlay, titled true class (when known), predicted class and probability.

    ``true`` and ``predicted`` are class indices; ``labels`` is :func:`drawable_labels` of all the class names,
    computed once for a gallery, so a name that cannot be drawn is titled ``class <its index>``. ``title`` replaces
    that title (a multi-label image has sets of labels; ``true`` None then keeps it black).
    """
    names, settings = labels
    if title is None:
        title = f"predicted: {names[predicted]} ({probability:.2f})"
        if true is not None:
            title = f"true: {names[true]}   {title}"
    with _drawing(settings):
        figure = _figure(4.0, 2.4, layout=None)  # fixed margins: constrained layout would double the cost
        top = 0.8 if "\n" not in title else 0.72  # a two-line title (multi-label) needs the room
        axes = figure.subplots(1, 2, gridspec_kw={"left": 0.02, "right": 0.98, "bottom": 0.02, "top": top,
                                                  "wspace": 0.06})
        for ax, pixels, name in ((axes[0], image, "image"), (axes[1], overlay, "Grad-CAM")):
            ax.imshow(pixels, interpolation="nearest" if pixels.shape[0] < 64 else "antialiased")
            ax.set_title(name, fontsize=8)
            ax.axis("off")
        figure.suptitle(title, fontsize=9, color="firebrick" if true not in (None, predicted) else "black")
        return _render(figure, path)


LEGEND_LIMIT = 20  # more classes than this: curves without a legend entry each


def _curve_axes(figure, xlabel: str, ylabel: str):
    ax = figure.subplots()
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    return ax


def _curve_classes(labels: np.ndarray, classes: int, positive: int | None) -> list[int]:
    """The classes drawn: the positive one of a two-class task, else every class with images of it and others."""
    chosen = [positive] if positive is not None else range(classes)
    return [label for label in chosen if 0 < (labels == label).sum() < len(labels)]


def plot_roc(labels: np.ndarray, probabilities: np.ndarray, class_names: list[str], auroc: list[float], title: str,
             path: Path, positive: int | None = None, point: tuple[float, float, float] | None = None) -> np.ndarray:
    """One-vs-rest ROC curve per class, its AUROC in the legend; a two-class task draws the positive class only,
    with the operating point (threshold, sensitivity, specificity) marked."""
    from sklearn.metrics import roc_curve

    names, settings = drawable_labels(class_names)
    drawn = _curve_classes(labels, len(class_names), positive)
    with _drawing(settings):
        figure = _figure(5.6, 5.2)
        ax = _curve_axes(figure, "false positive rate (1 - specificity)", "true positive rate (sensitivity)")
        for label in drawn:
            fpr, tpr, _ = roc_curve(labels == label, probabilities[:, label])
            ax.plot(fpr, tpr, lw=1.3, label=f"{names[label]}: AUROC {auroc[label]:.3f}")
        if point is not None:
            threshold, sensitivity, specificity = point
            ax.plot([1 - specificity], [sensitivity], "o", color="black", markersize=7,
                    label=f"threshold {threshold:.3g}: sens. {sensitivity:.3f}, spec. {specificity:.3f}")
        ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8)
        if len(drawn) <= LEGEND_LIMIT:
            ax.legend(loc="lower right", fontsize=7 if len(drawn) > 5 else 8)
        ax.set_title(title, fontsize=10)
        return _render(figure, path)


def plot_precision_recall(labels: np.ndarray, probabilities: np.ndarray, class_names: list[str], ap: list[float],
                          title: str, path: Path, positive: int | None = None,
                          point: tuple[float, float, float] | None = None) -> np.ndarray:
    """One-vs-rest precision-recall curve per class, its average precision in the legend; a two-class task draws
    the positive class with its prevalence (a model without skill) and the operating point (threshold, recall,
    precision)."""
    from sklearn.metrics import precision_recall_curve

    names, settings = drawable_labels(class_names)
    drawn = _curve_classes(labels, len(class_names), positive)
    with _drawing(settings):
        figure = _figure(5.6, 5.2)
        ax = _curve_axes(figure, "recall (sensitivity)", "precision (PPV)")
        for label in drawn:
            precision, recall, _ = precision_recall_curve(labels == label, probabilities[:, label])
            ax.step(recall, precision, where="post", lw=1.3, label=f"{names[label]}: AP {ap[label]:.3f}")
        if positive is not None and drawn:
            prevalence = float((labels == positive).mean())
            ax.axhline(prevalence, ls="--", color="grey", lw=0.8, label=f"prevalence {prevalence:.3f}")
        if point is not None:
            threshold, recall, precision = point
            ax.plot([recall], [precision], "o", color="black", markersize=7,
                    label=f"threshold {threshold:.3g}: recall {recall:.3f}, precision {precision:.3f}")
        if len(drawn) <= LEGEND_LIMIT:
            ax.legend(loc="lower left", fontsize=7 if len(drawn) > 5 else 8)
        ax.set_title(title, fontsize=10)
        return _render(figure, path)


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> pd.DataFrame:
    """Per equal-width bin of confidence (the top probability): images, mean confidence, accuracy. The bins are
    torchmetrics' (float32 edges, an edge in the bin above it), except that a confidence of exactly 1, which
    torchmetrics' ECE counts in a bin of its own, is drawn in the last bin."""
    from litcls.tasks import SingleLabel

    task = SingleLabel()
    confidence = task.confidence(probabilities).astype(np.float32)
    correct = task.decide(probabilities) == labels
    import torch

    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float32).numpy()  # torchmetrics' edges, to the last bit
    index = np.minimum(np.searchsorted(edges, confidence, side="right") - 1, bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore"):
        return pd.DataFrame({"low": np.arange(bins) / bins, "images": count,
                             "confidence": np.bincount(index, confidence, minlength=bins) / count,
                             "accuracy": np.bincount(index, correct, minlength=bins) / count})


def plot_reliability(labels: np.ndarray, panels: list[tuple[str, np.ndarray, float]], title: str,
                     path: Path) -> np.ndarray:
    """Reliability diagrams side by side, one per ``(name, probabilities, ece)``: accuracy per confidence bin (blue)
    and its gap to the bin's mean confidence (hatched red, above the bar when over-confident, inside it when
    under-confident); a calibrated model follows the diagonal. The numbers count the images in each bin."""
    with _drawing({}):
        figure = _figure(5.0 * len(panels), 5.2)
        axes = np.atleast_1d(figure.subplots(1, len(panels)))
        for ax, (name, probabilities, ece) in zip(axes, panels, strict=True):
            table = reliability_bins(probabilities, labels)
            width = 1 / len(table)
            shown = table[table["images"] > 0]
            ax.bar(shown["low"], shown["accuracy"], width=width, align="edge", color="tab:blue", alpha=0.75,
                   edgecolor="white", label="accuracy")
            ax.bar(shown["low"], shown["confidence"] - shown["accuracy"], bottom=shown["accuracy"], width=width,
                   align="edge", fill=False, hatch="///", edgecolor="tab:red", linewidth=0.8,
                   label="gap to mean confidence")
            for row in shown.itertuples():
                ax.text(row.low + width / 2, 0.02, str(row.images), ha="center", fontsize=6, rotation=90)
            ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.01)
            ax.set_aspect("equal")
            ax.set_xlabel("confidence (top probability)")
            ax.set_ylabel("accuracy")
            ax.set_title(f"{name}: ECE {ece:.4f}", fontsize=10)
            ax.legend(loc="upper left", fontsize=8)
        figure.suptitle(title, fontsize=10)
        return _render(figure, path)
