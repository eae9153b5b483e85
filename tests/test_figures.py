"""Figures: readable PNGs whatever the class names, without per-glyph warning spam."""

import warnings

import numpy as np
import pandas as pd
from PIL import Image

from litcls.report.figures import plot_confusion_matrix, plot_curves, plot_gradcam
from litcls.report.fonts import _font_covering, drawable_labels, missing_characters


def test_confusion_matrix_png_with_korean_names_never_spams_warnings(tmp_path):
    names = ["고양이", "강아지", "bird"]
    counts = np.array([[5, 1, 0], [2, 7, 0], [0, 0, 3]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pixels = plot_confusion_matrix(counts, names, "test split", tmp_path / "cm.png")
        plot_confusion_matrix(counts, names, "test split", tmp_path / "again.png")
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "Glyph" in m], messages
    assert len(messages) <= 1  # at most the one warning that no installed font has Hangul
    labels, _ = drawable_labels(names)
    if messages:
        assert "fonts-nanum" in messages[0] and labels == ["class 0", "class 1", "bird"]
    else:
        assert labels == names
    with Image.open(tmp_path / "cm.png") as image:
        assert image.size[::-1] == pixels.shape[:2] and image.size[0] > image.size[1]
    assert pixels.std() > 0


def test_a_font_that_covers_the_names_is_found_when_installed():
    # DejaVu Sans lacks U+24B6 (circled A); matplotlib's bundled STIX fonts have it.
    assert missing_characters(["Ⓐ"]) == {"Ⓐ"}
    assert _font_covering(frozenset("Ⓐ")).startswith("STIX")
    labels, settings = drawable_labels(["Ⓐ", "plain"])
    assert labels == ["Ⓐ", "plain"] and settings["font.sans-serif"][0].startswith("STIX")
    assert missing_characters(["cat", "Ünïcödé"]) == set()


def test_curves_and_gradcam_panels_are_written(tmp_path):
    metrics = pd.DataFrame({"epoch": [0, 1, 2], "train/loss": [2.0, 1.0, 0.5], "val/loss": [2.1, 1.2, 0.7],
                            "train/acc": [0.3, 0.6, 0.8], "val/acc": [0.3, 0.5, 0.7],
                            "train/f1_macro": [0.2, 0.5, 0.8], "val/f1_macro": [0.2, 0.4, 0.7]})
    plot_curves(metrics, tmp_path / "curves.png")
    image = np.random.default_rng(0).random((16, 16, 3))
    pixels = plot_gradcam(image, (image * 255).astype(np.uint8), "cat", "dog", 0.87, tmp_path / "g" / "x.png")
    assert (tmp_path / "curves.png").stat().st_size > 0 and (tmp_path / "g" / "x.png").is_file()
    assert pixels.ndim == 3 and pixels.shape[2] == 3
