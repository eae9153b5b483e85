"""report.html: one page that shows a finished run, readable offline and when mailed alone.

Built from the files in the run folder only (config.yaml, results.json, metrics.csv, predictions.csv, the CSV
reports and the PNG figures), so it can be rebuilt for any run folder: ``python -m litcls.report.page runs/<name>``
(a k-fold run folder gets the page of :mod:`litcls.report.cv_page`).
Images are embedded as base64 data URIs; links point to files beside the page.
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path

import pandas as pd
import yaml

from litcls.report.cv_page import write_cv_report
from litcls.report.html import configuration_section, file_links, html_document, image, summary_section, table
from litcls.report.summary import decision_rows, format_value
from litcls.report.summary_files import run_summary


def _results_section(results: dict) -> list[str]:
    if not results:
        return ["<p>No results.json: the run did not finish its evaluation.</p>"]
    intervals = (results.get("confidence_intervals") or {}).get("metrics", {})
    metrics = [(key, format_value(value, intervals.get(key))) for key, value in results.items()
               if "/" in key and isinstance(value, float)]
    details = [(key, results.get(key)) for key in ("monitor", "best_score", "best_checkpoint", "epochs_trained",
                                                   "seconds") if key in results]
    parts = []
    if intervals:
        ci = results["confidence_intervals"]
        parts.append(f"<p>value [low, high]: {ci['level']:.0%} {html.escape(ci['method'])} interval over "
                     f"{ci['replicates']} resamples of the {html.escape(ci['split'])} "
                     f"{html.escape(ci['resampled'])} (seed {ci['seed']}).</p>")
    parts += [table(pd.DataFrame(metrics, columns=["metric", "value"]))] if metrics else []
    parts.append(table(pd.DataFrame([(key, "" if value is None else f"{value:.4f}" if isinstance(value, float)
                                      else str(value)) for key, value in details], columns=["", "value"])))
    return parts


def _gallery(paths: list[Path], captions: dict[str, str]) -> str:
    items = []
    for path in paths:
        caption = captions.get(f"gradcam/{path.name}")
        items.append(f"<figure>{image(path, path.stem)}<figcaption>{html.escape(caption)}</figcaption></figure>"
                     if caption else image(path, path.stem))
    return '<div class="gallery">' + "".join(items) + "</div>"


def _gallery_captions(run_dir: Path) -> dict[str, str]:
    """Overlay file -> the predictions.csv row it explains (row numbers count data rows from 1)."""
    path = run_dir / "predictions.csv"
    if not path.is_file():
        return {}
    predictions = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "gradcam" not in predictions:
        return {}
    if "predicted" not in predictions:  # multi-label: the overlay's own title names the true and called labels
        return {file: f"predictions.csv row {number + 1}: {path}"
                for number, (files, path) in enumerate(zip(predictions["gradcam"], predictions["path"], strict=True))
                for file in files.split(";") if file}
    columns = zip(*(predictions[name] for name in ("gradcam", "path", "class", "predicted")), strict=True)
    return {file: f"predictions.csv row {number + 1}: {path} (true {true}, predicted {predicted})"
            for number, (files, path, true, predicted) in enumerate(columns) for file in files.split(";") if file}


def _decisions_section(run_dir: Path, results: dict) -> list[str]:
    """Calibration and, for two classes, the operating point: what was fitted on val and how it does on test."""
    if "calibration" not in results:
        return []
    splits = [split for split in ("val", "test") if f"{split}/nll" in results]
    rows = [(split, *(results.get(f"{split}/{name}") for name in ("ece", "ece_calibrated", "nll", "nll_calibrated")))
            for split in splits]
    body = ["<h2>Decisions fitted on the validation split</h2>",
            "<p>" + "<br>".join(html.escape(f"{key}: {value}") for key, value in decision_rows(results)) + "</p>",
            "<h3>Calibration (temperature scaling)</h3>",
            table(pd.DataFrame(rows, columns=["split", "ECE", "ECE calibrated", "NLL", "NLL calibrated"]))]
    point = results.get("operating_point")
    if point:
        names = ("sensitivity", "specificity", "ppv", "npv", "f1_at_threshold")
        intervals = (results.get("confidence_intervals") or {}).get("metrics", {})
        rows = [(split, *(format_value(results[f"{split}/{name}"], intervals.get(f"{split}/{name}"))
                          if results.get(f"{split}/{name}") is not None else "" for name in names))
                for split in splits]
        body += [f"<h3>Operating point: {html.escape(point['positive_class'])} when its probability &ge; "
                 f"{point['threshold']:.4g} ({html.escape(point['rule'])} on val)</h3>",
                 table(pd.DataFrame(rows, columns=["split", "sensitivity", "specificity", "PPV", "NPV", "F1"]))]
        for key in ("note", "warning"):
            if key in point:
                body.append(f"<p>{html.escape(point[key])}</p>")
    if (run_dir / "reliability.png").is_file():
        body.append(image(run_dir / "reliability.png", "reliability"))
    return body


def build_page(run_dir: Path) -> str:
    """The HTML text of the report for ``run_dir``; sections whose files are missing say so."""
    run_dir = Path(run_dir)
    config = {}
    if (run_dir / "config.yaml").is_file():
        config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    results_path = run_dir / "results.json"
    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.is_file() else {}
    split = "test" if any(key.startswith("test/") for key in results) else "val"
    report_path = run_dir / "classification_report.csv"
    title = run_dir.name
    body = [f"<h1>{html.escape(title)}</h1>",
            f'<p class="meta">data <b>{html.escape(str(config.get("data", "?")))}</b>, model '
            f'<b>{html.escape(str(config.get("model", "?")))}</b>. ' + file_links(run_dir, (
                "results.json", "predictions.csv", "val_predictions.csv", "classification_report.csv",
                "confusion_matrix.csv", "label_counts.csv", "slices.csv", "metrics.csv", "splits.csv",
                "config.yaml")) + "</p>",
            *summary_section(run_summary(run_dir, results, config)),
            f"<h2>Results on the {html.escape(split)} split</h2>", *_results_section(results)]
    body += _decisions_section(run_dir, results)
    if report_path.is_file():
        body += ["<h2>Per class</h2>",
                 table(pd.read_csv(report_path, dtype={"class": str}, keep_default_na=False))]
    if (run_dir / "roc.png").is_file():
        body += ["<h2>ROC and precision-recall curves</h2>", '<div class="gallery curves">',
                 *(image(run_dir / name, name) for name in ("roc.png", "pr.png") if (run_dir / name).is_file()),
                 "</div>"]
    if (run_dir / "slices.csv").is_file():
        slices = pd.read_csv(run_dir / "slices.csv", dtype={"value": str}, keep_default_na=False)
        body += ["<h2>Failure slices</h2>", "<p>Accuracy and macro F1 per value of each column, worst first (all in "
                 "slices.csv): does one group, site or sex hold most of the mistakes?</p>"]
        for column, rows in slices.groupby("column", sort=False):
            more = f" (the worst 15 of {len(rows)})" if len(rows) > 15 else ""
            body += [f"<h3>{html.escape(str(column))}{more}</h3>", table(rows.head(15))]
    body += ["<h2>Learning curves</h2>", image(run_dir / "curves.png", "Learning curves")
             if (run_dir / "curves.png").is_file() else "<p>No curves.png.</p>"]
    if (run_dir / "label_counts.csv").is_file():  # multi-label: a 2x2 per label in place of the KxK matrix
        body += ["<h2>Per label at its threshold</h2>", "<p>True and false positives and negatives of each label "
                 "called at its own threshold, over its known cells (ignored cells left out).</p>",
                 table(pd.read_csv(run_dir / "label_counts.csv", dtype={"class": str}, keep_default_na=False))]
    else:
        body += ["<h2>Confusion matrix</h2>", image(run_dir / "confusion_matrix.png", "Confusion matrix")
                 if (run_dir / "confusion_matrix.png").is_file() else "<p>No confusion_matrix.png.</p>"]
    body.append("<h2>Grad-CAM</h2>")
    gradcam = sorted((run_dir / "gradcam").glob("*.png"))
    per_class = [path for path in gradcam if path.stem.startswith("class-")]
    mistakes = [path for path in gradcam if path.stem.startswith("mistake-")]
    per_label = [path for path in gradcam if path.stem.startswith("label-")]
    if not gradcam:
        body.append("<p>No Grad-CAM overlays in this run (a model without convolutions has none; "
                    "<code>--gradcam-per-class 0 --gradcam-mistakes 0</code> turns them off).</p>")
    captions = _gallery_captions(run_dir)
    if per_class:
        body += ["<h3>Images of each class</h3>", _gallery(per_class, captions)]
    if per_label:
        body += ["<h3>Images of each label: an overlay per label called positive</h3>", _gallery(per_label, captions)]
    if mistakes:
        body += ["<h3>Most confident mistakes</h3>", _gallery(mistakes, captions)]
    elif gradcam and not per_label:
        body.append("<p>No mistakes to explain.</p>")
    if (run_dir / "metrics.csv").is_file():
        body += ["<details><summary>Metrics per epoch</summary>", table(pd.read_csv(run_dir / "metrics.csv")),
                 "</details>"]
    if config:
        body += configuration_section(config)
    return html_document(title, body)


def write_run_report(run_dir: Path) -> Path:
    """Draw ``curves.png`` from ``metrics.csv``, then write ``report.html``; return the page's path."""
    from litcls.report.figures import plot_curves

    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.csv"
    if metrics_path.is_file():
        metrics = pd.read_csv(metrics_path)
        if len(metrics):
            plot_curves(metrics, run_dir / "curves.png")
    page = run_dir / "report.html"
    page.write_text(build_page(run_dir), encoding="utf-8")
    return page


def main(argv: list[str]) -> int:
    """``python -m litcls.report.page RUN_FOLDER``: rebuild a run's report; one line and exit code 2 on a bad path."""
    if len(argv) != 1:
        print("usage: python -m litcls.report.page RUN_FOLDER", file=sys.stderr)
        return 2
    run_dir = Path(argv[0])
    if not (run_dir / "config.yaml").is_file():
        print(f"error: {run_dir} is not a run folder (it has no config.yaml); pass a folder train.py wrote, "
              "e.g. runs/<name>", file=sys.stderr)
        return 2
    if (run_dir / "cv_results.json").is_file():
        print(write_cv_report(run_dir))
    else:
        print(write_run_report(run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
