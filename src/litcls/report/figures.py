"""Matplotlib figures of a run: confusion matrix, learning curves, Grad-CAM panels.

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
    """Draw once on the Agg canvas; the same pixels go to the PNG file and to the caller."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    canvas = FigureCanvasAgg(figure)
    figure.set_dpi(dpi)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    Image.fromarray(pixels).save(path, optimize=False)
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


def plot_gradcam(image: np.ndarray, overlay: np.ndarray, true_name: str | None, predicted_name: str,
                 probability: float, path: Path) -> np.ndarray:
    """The image beside its Grad-CAM overlay, titled true class (when known), predicted class and probability."""
    (true_label, predicted_label), settings = drawable_labels([true_name or "", predicted_name])
    title = f"predicted: {predicted_label} ({probability:.2f})"
    if true_name is not None:
        title = f"true: {true_label}   {title}"
    with _drawing(settings):
        figure = _figure(4.0, 2.4, layout=None)  # fixed margins: constrained layout would double the cost
        axes = figure.subplots(1, 2, gridspec_kw={"left": 0.02, "right": 0.98, "bottom": 0.02, "top": 0.8,
                                                  "wspace": 0.06})
        for ax, pixels, name in ((axes[0], image, "image"), (axes[1], overlay, "Grad-CAM")):
            ax.imshow(pixels, interpolation="nearest" if pixels.shape[0] < 64 else "antialiased")
            ax.set_title(name, fontsize=8)
            ax.axis("off")
        figure.suptitle(title, fontsize=9, color="firebrick" if true_name not in (None, predicted_name) else "black")
        return _render(figure, path)
