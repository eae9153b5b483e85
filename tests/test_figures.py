"""Figures: readable PNGs whatever the class names, without per-glyph warning spam."""

import os
import subprocess
import sys
import warnings

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import font_manager
from PIL import Image

from conftest import REPO
from litcls.report.figures import plot_confusion_matrix, plot_curves, plot_gradcam
from litcls.report.fonts import PREFERRED_FAMILIES, _codepoints, _font_covering, drawable_labels, missing_characters


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
        assert f"rm {matplotlib.get_cachedir()}/fontlist-*.json" in messages[0]  # where the cache is, and how
    else:
        assert labels == names
    with Image.open(tmp_path / "cm.png") as image:
        assert image.size[::-1] == pixels.shape[:2] and image.size[0] > image.size[1]
    assert pixels.std() > 0


def test_a_font_that_covers_the_names_is_found_when_installed():
    # DejaVu Sans lacks U+24B6 (circled A); matplotlib's bundled STIX fonts have it, and so do CJK fonts
    # (Noto Sans CJK, Nanum), which are preferred when installed.
    assert missing_characters(["Ⓐ"]) == ["Ⓐ"]
    family = _font_covering(frozenset("Ⓐ"))
    covering = [font for font in font_manager.fontManager.ttflist
                if font.name == family and ord("Ⓐ") in _codepoints(font.fname)]
    assert covering, f"{family} was chosen but none of its files has the character"
    assert family.startswith("STIX") or family in PREFERRED_FAMILIES
    labels, settings = drawable_labels(["Ⓐ", "plain"])
    assert labels == ["Ⓐ", "plain"] and settings["font.sans-serif"][0] == family
    assert missing_characters(["cat", "Ünïcödé"]) == []


def test_curves_and_gradcam_panels_are_written(tmp_path):
    metrics = pd.DataFrame({"epoch": [0, 1, 2], "train/loss": [2.0, 1.0, 0.5], "val/loss": [2.1, 1.2, 0.7],
                            "train/acc": [0.3, 0.6, 0.8], "val/acc": [0.3, 0.5, 0.7],
                            "train/f1_macro": [0.2, 0.5, 0.8], "val/f1_macro": [0.2, 0.4, 0.7]})
    plot_curves(metrics, tmp_path / "curves.png")
    image = np.random.default_rng(0).random((16, 16, 3))
    pixels = plot_gradcam(image, (image * 255).astype(np.uint8), 0, 1, 0.87, drawable_labels(["cat", "dog"]),
                          tmp_path / "g" / "x.png")
    assert (tmp_path / "curves.png").stat().st_size > 0 and (tmp_path / "g" / "x.png").is_file()
    assert pixels.ndim == 3 and pixels.shape[2] == 3


def test_rebuilding_the_report_of_a_wrong_path_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "litcls.report.page", str(tmp_path / "nowhere")], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")}, capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"error: {tmp_path / 'nowhere'} is not a run folder (it has no config.yaml); "
                                     "pass a folder train.py wrote, e.g. runs/<name>")
