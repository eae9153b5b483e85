"""A k-fold run's suspected label errors: ``label_issues.csv`` from its out-of-fold predictions and thumbnails of
the top suspects under ``label_issues/`` for its report page (see :mod:`litcls.evaluation.label_issues`)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

from litcls.evaluation.label_issues import find_label_issues
from litcls.evaluation.predictions import read_predictions
from litcls.runs.finished_folder import data_root

GALLERY = 16  # suspects shown on the report page
THUMBNAIL = 128  # pixels, the longer side


def write_label_issues(run_dir: Path, classes: list[str], gallery: int = GALLERY) -> int | None:
    """Write ``label_issues.csv`` from ``oof_predictions.csv`` and thumbnails ``label_issues/rank_<k>.png`` of the
    first ``gallery`` suspects whose image files are found.

    Returns:
        The number of suspects, or None when the run has no out-of-fold predictions.
    """
    from PIL import Image

    from litcls.data.decode import load_rgb

    oof_file = run_dir / "oof_predictions.csv"
    if not oof_file.is_file():
        return None
    try:
        issues = find_label_issues(read_predictions(oof_file, classes), classes)
    except ValueError as err:  # cleanlab refuses some degenerate tables (e.g. a class without images)
        warnings.warn(f"{run_dir}: no label_issues.csv: cleanlab could not rank the out-of-fold predictions "
                      f"({' '.join(str(err).split())[:200]})", stacklevel=2)
        return None
    issues.to_csv(run_dir / "label_issues.csv", index=False, encoding="utf-8")
    folder = run_dir / "label_issues"
    shutil.rmtree(folder, ignore_errors=True)  # thumbnails of an earlier aggregate may name other images
    root = data_root(run_dir)
    for rank, path in zip(issues["rank"][:gallery], issues["path"][:gallery], strict=True):
        file = root / path if root is not None else Path(path)
        if not file.is_file():
            continue
        image = Image.fromarray(load_rgb(file, THUMBNAIL))
        scale = THUMBNAIL / max(image.size)  # tiny images enlarged without blur, photos shrunk
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS)
        folder.mkdir(exist_ok=True)
        image.save(folder / f"rank_{rank:03d}.png")
    return len(issues)
