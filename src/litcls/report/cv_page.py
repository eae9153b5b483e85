"""report.html of a k-fold run: mean ± std per metric, one row per fold, the out-of-fold evaluation.

Built from the files :func:`litcls.runs.crossval.aggregate` writes (``cv_results.json``/``.csv``, ``oof_*``) and
the run's ``config.yaml``; each fold keeps its own ``fold_<i>/report.html``, linked from its row.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import yaml

from litcls.report.html import configuration_section, file_links, html_document, image, table


def _spread(entry: dict) -> str:
    mean, std = entry["mean"], entry["std"]
    if mean is None:
        return ""
    return f"{mean:.4f}" + ("" if std is None else f" ± {std:.4f}")


def _per_foldtable(run_dir: Path, results: dict) -> str:
    table = pd.read_csv(run_dir / "cv_results.csv", dtype={"fold": str})
    table["report"] = [f'<a href="fold_{fold}/report.html">fold_{fold}/report.html</a>'
                       if (run_dir / f"fold_{fold}" / "report.html").is_file() else "" for fold in table["fold"]]
    return table.to_html(index=False, border=0, float_format=lambda value: f"{value:.4f}", na_rep="", escape=False)


def build_cv_page(run_dir: Path) -> str:
    """The HTML text of a k-fold run's report."""
    run_dir = Path(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    results = json.loads((run_dir / "cv_results.json").read_text(encoding="utf-8"))
    finished, folds = len(results["finished_folds"]), results["folds"]
    title = run_dir.name
    body = [f"<h1>{html.escape(title)}</h1>",
            f'<p class="meta">{folds}-fold cross-validation of <b>{html.escape(str(config.get("model", "?")))}</b> '
            f'on <b>{html.escape(str(config.get("data", "?")))}</b>; {finished} of {folds} folds finished. '
            + file_links(run_dir, (
                "cv_results.json", "cv_results.csv", "oof_predictions.csv", "oof_classification_report.csv",
                "splits.csv", "config.yaml")) + "</p>"]
    if results["missing_folds"]:
        body.append(f"<p><b>Folds {', '.join(map(str, results['missing_folds']))} have not finished</b>: the "
                    "figures below cover the finished folds only.</p>")
    metrics = results["metrics"]
    rows = [(name, _spread(entry), ", ".join("" if value is None else f"{value:.4f}" for value in entry["per_fold"]))
            for name, entry in metrics.items() if "/" in name]
    body += [f"<h2>Mean ± std over {finished} fold(s)</h2>",
             f"<p>{html.escape(results['std'])}; <code>test/*</code>: each fold's best checkpoint on the held-out "
             "test split, <code>val/*</code>: on the fold's validation images.</p>",
             table(pd.DataFrame(rows, columns=["metric", "mean ± std", "per fold"])),
             "<h2>Per fold</h2>", _per_foldtable(run_dir, results)]
    oof = results.get("out_of_fold")
    body.append("<h2>Out-of-fold predictions</h2>")
    if oof:
        body.append(f"<p>Every pool image predicted once, by the fold model that did not train on it: "
                    f"{oof['images']} images, accuracy {oof['oof/acc']:.4f}, macro F1 {oof['oof/f1_macro']:.4f}.</p>")
        if (run_dir / "oof_confusion_matrix.png").is_file():
            body.append(image(run_dir / "oof_confusion_matrix.png", "out-of-fold confusion matrix"))
        if (run_dir / "oof_classification_report.csv").is_file():
            body += ["<h3>Per class</h3>", table(pd.read_csv(run_dir / "oof_classification_report.csv",
                                                              dtype={"class": str}, keep_default_na=False))]
    else:
        body.append("<p>None: no fold saved a checkpoint to predict with (fast dev run).</p>")
    return html_document(title, body + configuration_section(config))


def write_cv_report(run_dir: Path) -> Path:
    page = Path(run_dir) / "report.html"
    page.write_text(build_cv_page(run_dir), encoding="utf-8")
    return page
