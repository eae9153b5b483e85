"""The report speaks first: the plain-words summary from a run's results, and a real run's page that opens on it."""

import json
import re

import pandas as pd
import pytest

from conftest import run_main, write_images
from litcls.evaluation.threshold import few_images_warning
from litcls.report.html import numbers_as_numbers, summary_section, table
from litcls.report.in_words import (
    Summary,
    confusions,
    operating_point,
    summarize_repeats,
    summarize_run,
    warnings_that_matter,
)

CONFIG = {"data": "data/lesions", "model": "resnet18", "pretrained": True}
CLASSES = ["benign", "malignant"]
IMAGES = {"train": 700, "val": 150, "test": 150}


def two_class_results(**overrides):
    report = [{"class": "benign", "support": 120}, {"class": "malignant", "support": 30},
              {"class": "macro avg", "support": 150}]
    results = {"test/acc": 0.9133, "test/f1_macro": 0.87, "test/sensitivity": 0.8, "test/specificity": 0.95,
               "epochs_trained": 12, "operating_point": {"positive_class": "malignant", "threshold": 0.3141,
                                                         "rule": "youden"},
               "confidence_intervals": {"metrics": {"test/acc": [0.86, 0.953333], "test/sensitivity": [0.64, 0.93],
                                                    "test/specificity": [0.9, 0.98]}},
               "classification_report": {"split": "test", "rows": report}}
    return {**results, **overrides}


def test_a_two_class_summary_says_what_how_good_what_is_mixed_up_and_out_of_100():
    matrix = {"benign": {"benign": 114, "malignant": 6}, "malignant": {"benign": 6, "malignant": 24}}
    summary = summarize_run(two_class_results(), CONFIG, CLASSES, IMAGES, matrix)
    assert summary.sentences == [
        "A resnet18 model was trained from pretrained weights on data/lesions: 2 classes (benign, malignant), 700 "
        "training, 150 validation and 150 test images, 12 epochs.",
        "On the test split, accuracy 0.913 (95% interval 0.860 to 0.953) and macro F1 0.870.",
        "Most often confused: 6 'benign' images called 'malignant'; 6 'malignant' images called 'benign'.",
        "At the operating threshold (prob_malignant \u2265 0.314, chosen by youden on the validation split), out of "
        "100 'malignant' images about 80 (between 64 and 93) are flagged; out of 100 'benign' images, about 5 "
        "(between 2 and 10) are flagged wrongly."]
    assert summary.warnings == []


def test_mistakes_are_listed_most_frequent_first_and_three_at_most():
    matrix = {"a": {"a": 5, "b": 1, "c": 4, "d": 2}, "b": {"a": 0, "b": 9, "c": 0, "d": 3}, "c": {}, "d": {}}
    assert confusions(matrix) == ("Most often confused: 4 'a' images called 'c'; 3 'b' images called 'd'; "
                                  "2 'a' images called 'd'.")
    assert confusions({"a": {"a": 3, "b": 0}, "b": {"a": 0, "b": 2}}) == \
        "No image of the evaluated split was put in the wrong class."
    assert confusions({}) == ""


def test_warnings_name_few_test_images_a_large_gap_and_keep_the_run_notes():
    results = two_class_results(notes=["the operating threshold rests on only 4 'malignant' validation images"])
    results["classification_report"]["rows"][1]["support"] = 7
    found = warnings_that_matter(results, "test", {"train/acc": 0.99, "val/acc": 0.71})
    assert found[0].startswith("the operating threshold rests on only 4")
    assert found[1].startswith("fewer than 10 test images of 'malignant' (7)")
    assert found[2].startswith("training accuracy 0.990 against validation accuracy 0.710 in the last epoch")
    assert warnings_that_matter(two_class_results(), "test", {"train/acc": 0.95, "val/acc": 0.9}) == []


def test_no_operating_point_sentence_without_two_classes_and_a_summary_without_results():
    assert operating_point({"test/acc": 0.9}, "test", ["a", "b", "c"]) == ""
    assert summarize_run({}, CONFIG, [], {}, {}).sentences[0].startswith("The run did not finish its evaluation")


@pytest.mark.parametrize(("positives", "negatives", "expected"), [
    (4, 30, "rests on only 4 'sick' validation images (fewer than 10)"),
    (12, 3, "rests on only 3 'healthy' validation images"),
    (2, 5, "rests on only 2 'sick' and 5 'healthy' validation images"),
    (10, 10, ""),
])
def test_a_threshold_on_few_validation_images_gets_one_warning_with_the_remedies(positives, negatives, expected):
    warning = few_images_warning(positives, negatives, "sick", "healthy")
    assert (expected in warning) if expected else warning == ""
    if warning:
        assert "--folds" in warning and "--val-size" in warning and "--resplit-val" in warning


def test_tables_round_numbers_read_as_text_and_scroll_sideways():
    frame = pd.DataFrame({"class": ["1", "2"], "auroc": ["0.9876543210123456", ""], "support": ["3", "12"]})
    converted = numbers_as_numbers(frame)
    assert list(converted["class"]) == ["1", "2"] and str(converted["support"].dtype) == "Int64"
    page = table(frame)
    assert page.startswith('<div class="table">') and "0.9877" in page and "0.98765" not in page
    assert "<td>12</td>" in page
    html = "".join(summary_section(Summary(["One."], ["a note without a stop"])))
    assert "<li>A note without a stop.</li>" in html


def test_a_real_two_class_run_opens_its_report_on_the_summary_and_warns_once(tmp_path):
    write_images(tmp_path / "lesions" / "benign", 48, (120, 120, 120), size=8, seed=0)
    write_images(tmp_path / "lesions" / "malignant", 16, (150, 112, 112), size=8, seed=1)
    result = run_main("train.py", "--data", str(tmp_path / "lesions"), "--model", "linear", "--img-size", "8",
                      "--batch-size", "16", "--epochs", "1", "--num-workers", "0", "--val-size", "0.25",
                      "--test-size", "0.25", "--bootstrap", "50", "--logger", "csv", "--name", "two", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    warned = [line for line in result.stdout.splitlines() if "threshold rests on only" in line]
    assert warned == ["warning: the operating threshold rests on only 4 'malignant' validation images (fewer than "
                      "10), so its sensitivity and specificity may not hold on new images; give validation more "
                      "images: k-fold (--folds 5), a larger --val-size, or --resplit-val where the data's own "
                      "validation split is small"]
    run = tmp_path / "runs" / "two"
    results = json.loads((run / "results.json").read_text())
    assert results["operating_point"]["val_images"] == {"positive": 4, "negative": 12}
    assert sum("rests on only" in note for note in results["notes"]) == 1
    page = (run / "report.html").read_text(encoding="utf-8")
    body = page[page.index("<body>"):]
    first_heading_or_section = re.search(r"<h2|<section", body[body.index("</h1>"):]).group()
    assert first_heading_or_section == "<section"  # the summary comes before every table
    summary = re.sub(r"<[^>]+>", " ", body[body.index('<section class="summary">'):body.index("</section>")])
    assert "A linear model was trained on" in summary and "out of 100 &#x27;malignant&#x27; images" in summary
    assert summary.count("rests on only 4") == 1 and page.count("rests on only 4") == 1
    assert not re.search(r"\d\.\d{6,}", page.replace(page[page.find("data:image"):], ""))


def test_a_k_fold_summary_gives_the_spread_the_out_of_fold_numbers_and_what_did_not_finish():
    results = {"folds": 5, "finished_folds": [0, 1, 2, 3], "missing_folds": [4],
               "metrics": {"test/acc": {"mean": 0.9, "std": 0.07, "per_fold": [0.8, 0.9, 0.95, 0.95]},
                           "test/f1_macro": {"mean": 0.85, "std": 0.05, "per_fold": [0.8, 0.85, 0.9, 0.85]}},
               "out_of_fold": {"images": 120, "oof/acc": 0.875, "oof/f1_macro": 0.86}}
    matrix = {"cat": {"cat": 50, "dog": 9}, "dog": {"cat": 6, "dog": 55}}
    summary = summarize_repeats(results, CONFIG, "fold", ["fold_0", "fold_2"], matrix)
    assert summary.sentences == [
        "5-fold cross-validation of a resnet18 model on data/lesions: 4 of 5 folds finished, each trained on the "
        "other folds and evaluated on the same test split.",
        "On the test split, accuracy 0.900 \u00b1 0.070 over 4 folds (from 0.800 to 0.950), macro F1 0.850 \u00b1 "
        "0.050.",
        "Out of fold (each of the 120 pool images predicted once, by the fold model that did not train on it): "
        "accuracy 0.875, macro F1 0.860.",
        "Most often confused out of fold: 9 'cat' images called 'dog'; 6 'dog' images called 'cat'."]
    assert [warning.split(":")[0] for warning in summary.warnings] == [
        "fold 4 has not finished", "test accuracy varies by \u00b1 0.070 between folds",
        "the operating threshold of fold_0 and fold_2 rests on few validation images of a class (each one's report "
        "gives the count)"]


def test_a_seeds_summary_names_the_seeds_and_the_split():
    results = {"seeds": [1, 2, 3], "finished_seeds": [1, 2, 3], "missing_seeds": [],
               "metrics": {"test/acc": {"mean": 0.95, "std": 0.01, "per_seed": [0.94, 0.95, 0.96]}},
               "ensemble": {"test": {"images": 1200, "test/acc": 0.9625}}}
    summary = summarize_repeats(results, {**CONFIG, "seed": 42}, "seed")
    assert summary.sentences == [
        "A resnet18 model trained on data/lesions once per seed (1, 2, 3), on the one split of --seed 42: the spread "
        "shows how much a number owes to the seed.",
        "On the test split, accuracy 0.950 \u00b1 0.010 over 3 seeds (from 0.940 to 0.960).",
        "The ensemble of the 3 seeds (the mean of their probabilities): test accuracy 0.963 on 1,200 images."]
    assert summary.warnings == []


def test_a_k_fold_page_opens_on_its_summary_and_its_wide_table_scrolls(tmp_path):
    run = tmp_path / "cv"
    (run / "fold_0").mkdir(parents=True)
    (run / "config.yaml").write_text("data: data/lesions\nmodel: cnn\n")
    (run / "fold_0" / "results.json").write_text(json.dumps({"operating_point": {"few_images": "..."}}))
    metrics = {f"test/{name}": {"mean": 0.9, "std": None, "per_fold": [0.9]} for name in ("acc", "f1_macro", "ece")}
    (run / "cv_results.json").write_text(json.dumps({
        "folds": 2, "finished_folds": [0], "missing_folds": [1], "std": "sample standard deviation over folds",
        "metrics": metrics, "out_of_fold": None}))
    pd.DataFrame([{"fold": "0", **{name: 0.912345678 for name in metrics}}]).to_csv(run / "cv_results.csv",
                                                                                  index=False)
    from litcls.report.cv_page import build_cv_page

    page = build_cv_page(run)
    body = page[page.index("</h1>"):]
    assert body.index('<section class="summary">') < body.index("<h2")
    summary = body[:body.index("</section>")]
    assert "2-fold cross-validation of a cnn model on data/lesions: 1 of 2 folds finished" in summary
    assert "Fold 1 has not finished" in summary and "The operating threshold of fold_0 rests on few" in summary
    per_fold = body[body.index("<h2>Per fold</h2>"):]
    assert per_fold.index('<div class="table">') < per_fold.index("<table") and "0.9123</td>" in per_fold
