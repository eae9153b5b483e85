"""report.html of a k-fold run: mean ± std per metric, one row per fold, the out-of-fold evaluation.

Built from the files :func:`litcls.runs.crossval.aggregate` writes (``cv_results.json``/``.csv``, ``oof_*``) and
the run's ``config.yaml``; each fold keeps its own ``fold_<i>/report.html``, linked from its row.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from litcls.report.html import image, link, table
from litcls.report.members_page import MembersPage, build_members_page, read_results, write_page

FILES = ("cv_results.json", "cv_results.csv", "oof_predictions.csv", "oof_classification_report.csv",
         "label_issues.csv", "splits.csv", "config.yaml")


def _out_of_fold(run_dir: Path, oof: dict | None) -> list[str]:
    body = ["<h2>Out-of-fold predictions</h2>"]
    if not oof:
        return body + ["<p>None: no fold saved a checkpoint to predict with (fast dev run).</p>"]
    scores = (f"macro AUROC {oof['oof/auroc']:.4f}, macro F1 at the folds' thresholds "
              f"{oof['oof/f1_macro_at_thresholds']:.4f}" if oof.get("task") == "multi_label" else
              f"accuracy {oof['oof/acc']:.4f}, macro F1 {oof['oof/f1_macro']:.4f}")
    body.append(f"<p>Every pool image predicted once, by the fold model that did not train on it: "
                f"{oof['images']} images, {scores}.</p>")
    if (run_dir / "oof_confusion_matrix.png").is_file():
        body.append(image(run_dir / "oof_confusion_matrix.png", "out-of-fold confusion matrix"))
    if (run_dir / "oof_classification_report.csv").is_file():
        body += ["<h3>Per class</h3>", table(pd.read_csv(run_dir / "oof_classification_report.csv",
                                                          dtype={"class": str}, keep_default_na=False))]
    return body


def _label_issues(run_dir: Path) -> list[str]:
    """The suspected label errors of ``label_issues.csv``, the top ones as a gallery of their thumbnails."""
    file = run_dir / "label_issues.csv"
    if not file.is_file():
        return []
    issues = pd.read_csv(file, keep_default_na=False, dtype={"path": str, "given_class": str,
                                                             "suggested_class": str, "group": str})
    section = ["<h2>Suspected label errors</h2>",
               f"<p>{len(issues)} image(s) whose given label the out-of-fold predictions doubt (confident learning, "
               f"cleanlab), most suspect first: {link(run_dir, 'label_issues.csv')}. Look at each: fix a wrong label "
               "or drop the image, then train again. A suspect is not proof: a hard or ambiguous image with the "
               "right label can rank here too, and a wrong label the model learned to agree with cannot.</p>"]
    figures = []
    for row in issues.itertuples(index=False):
        thumbnail = run_dir / "label_issues" / f"rank_{row.rank:03d}.png"
        if thumbnail.is_file():
            caption = (f"#{row.rank} {row.path}: given {row.given_class} ({row.given_probability:.2f}), "
                       f"suggested {row.suggested_class} ({row.suggested_probability:.2f})")
            figures.append(f"<figure>{image(thumbnail, row.path)}<figcaption>{html.escape(caption)}"
                           "</figcaption></figure>")
    if figures:
        section.append(f'<div class="gallery">{"".join(figures)}</div>')
    return section


def build_cv_page(run_dir: Path) -> str:
    """The HTML text of a k-fold run's report."""
    run_dir = Path(run_dir)
    config, results = read_results(run_dir, "cv_results")
    finished, folds = len(results["finished_folds"]), results["folds"]
    meta = (f'{folds}-fold cross-validation of <b>{html.escape(str(config.get("model", "?")))}</b> on '
            f'<b>{html.escape(str(config.get("data", "?")))}</b>; {finished} of {folds} folds finished.')
    note = ("; <code>test/*</code>: each fold's best checkpoint on the held-out test split, <code>val/*</code>: on "
            "the fold's validation images.")
    # unfinished folds are named in the summary's warnings, at the top of the page
    after = _out_of_fold(run_dir, results["out_of_fold"]) + _label_issues(run_dir)
    page = MembersPage("fold", "cv_results", meta, FILES, note, after=after)
    return build_members_page(run_dir, config, results, page)


def write_cv_report(run_dir: Path) -> Path:
    return write_page(run_dir, build_cv_page(run_dir))
