"""A finished run in a few plain sentences: what the top of its report says before any table.

A newcomer opening report.html should learn in ten seconds what was trained on what, how good it is and how sure
we are, which classes it mixes up, what a two-class threshold means for 100 images, and what to distrust. Pure
functions of what the run folder holds (results.json, config.yaml, the split sizes, the confusion matrix), so
they are tested without training and the same sentences can be shown anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FEW_TEST_IMAGES = 10  # a class's test numbers move by 10 points or more per image below this
LARGE_GAP = 0.15  # training accuracy this far above validation accuracy: the model learns the images, not the task
_CONFUSIONS_SHOWN = 3
_CLASSES_NAMED = 8


@dataclass
class Summary:
    """The sentences to read first, then the warnings that matter (each a sentence)."""

    sentences: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _number(value: float) -> str:
    return f"{value:.3f}"


def with_interval(value: float, interval: list | None) -> str:
    """``0.963 (95% interval 0.941 to 0.982)``, or the value alone without an interval."""
    if not interval or None in interval:
        return _number(value)
    return f"{_number(value)} (95% interval {_number(interval[0])} to {_number(interval[1])})"


def _images(count: int) -> str:
    return f"{count:,} image{'' if count == 1 else 's'}"


def _classes(names: list[str]) -> str:
    if len(names) > _CLASSES_NAMED:
        return f"{len(names)} classes"
    return f"{len(names)} classes ({', '.join(names)})"


def _splits(images: dict[str, int]) -> str:
    named = {"train": "training", "val": "validation", "test": "test"}
    parts = [f"{images[split]:,} {named[split]}" for split in named if images.get(split)]
    return (", ".join(parts[:-1]) + " and " + parts[-1]) if len(parts) > 1 else "".join(parts)


def what_was_trained(config: dict, classes: list[str], images: dict[str, int], results: dict) -> str:
    """``A cnn was trained on shapes: 3 classes (a, b, c), 56 training, 12 validation and 12 test images, 9
    epochs.``"""
    start = " from pretrained weights" if config.get("pretrained") or config.get("weights") else ""
    epochs = results.get("epochs_trained")
    trained = f", {epochs} epoch{'' if epochs == 1 else 's'}" if epochs else ""
    return (f"A {config.get('model', '?')} model was trained{start} on {config.get('data', '?')}: {_classes(classes)}, "
            f"{_splits(images)} images{trained}.")


def headline(results: dict, split: str) -> str:
    """Accuracy and macro F1 (and AUROC for two classes) on the evaluated split, with their intervals."""
    intervals = (results.get("confidence_intervals") or {}).get("metrics", {})
    shown = [(name, key) for name, key in (("accuracy", "acc"), ("macro F1", "f1_macro"))
             if results.get(f"{split}/{key}") is not None]
    if not shown:
        return ""
    parts = [f"{name} {with_interval(results[f'{split}/{key}'], intervals.get(f'{split}/{key}'))}"
             for name, key in shown]
    return f"On the {split} split, {' and '.join(parts)}."


def confusions(matrix: dict[str, dict[str, int]]) -> str:
    """The most frequent mistakes, from the confusion matrix (true class -> predicted class -> images)."""
    mistakes = sorted(((count, true, predicted) for true, row in matrix.items() for predicted, count in row.items()
                       if predicted != true and count > 0), key=lambda item: -item[0])
    if not matrix:
        return ""
    if not mistakes:
        return "No image of the evaluated split was put in the wrong class."
    listed = [f"{count} '{true}' {'image' if count == 1 else 'images'} called '{predicted}'"
              for count, true, predicted in mistakes[:_CONFUSIONS_SHOWN]]
    return "Most often confused: " + "; ".join(listed) + "."


def operating_point(results: dict, split: str, classes: list[str]) -> str:
    """For two classes: the threshold's sensitivity and false-positive rate as counts out of 100 images."""
    point = results.get("operating_point")
    sensitivity, specificity = results.get(f"{split}/sensitivity"), results.get(f"{split}/specificity")
    if not point or sensitivity is None or specificity is None:
        return ""
    positive = point["positive_class"]
    negative = next((name for name in classes if name != positive), "the other class")
    intervals = (results.get("confidence_intervals") or {}).get("metrics", {})

    def out_of_100(value: float, interval: list | None) -> str:
        around = f"about {round(100 * value)}"
        if interval and None not in interval and round(100 * interval[0]) != round(100 * interval[1]):
            around += f" (between {round(100 * interval[0])} and {round(100 * interval[1])})"
        return around

    kept = intervals.get(f"{split}/specificity")
    wrongly = [1 - kept[1], 1 - kept[0]] if kept and None not in kept else None
    flagged = out_of_100(sensitivity, intervals.get(f"{split}/sensitivity"))
    return (f"At the operating threshold (prob_{positive} \u2265 {point['threshold']:.3g}, chosen by {point['rule']} "
            f"on the validation split), out of 100 '{positive}' images {flagged} are flagged; out of 100 "
            f"'{negative}' images, {out_of_100(1 - specificity, wrongly)} are flagged wrongly.")


def warnings_that_matter(results: dict, split: str, last_epoch: dict[str, float] | None = None) -> list[str]:
    """The run's own notes (a threshold on few images, no test split, ...), classes with fewer than 10 evaluated
    images, and a large gap between training and validation accuracy at the last epoch."""
    found = list(results.get("notes", []))
    rows = (results.get("classification_report") or {}).get("rows", [])
    small = [f"'{row['class']}' ({row['support']})" for row in rows
             if not str(row["class"]).endswith(" avg") and row.get("support") is not None
             and row["support"] < FEW_TEST_IMAGES]
    if small:
        whose = "this class's" if len(small) == 1 else "these classes'"
        found.append(f"fewer than {FEW_TEST_IMAGES} {split} images of {', '.join(small)}: each image moves "
                     f"{whose} numbers by 10 points or more, so read them as rough")
    if last_epoch and last_epoch.get("train/acc") is not None and last_epoch.get("val/acc") is not None:
        train, val = last_epoch["train/acc"], last_epoch["val/acc"]
        if train - val >= LARGE_GAP:
            found.append(f"training accuracy {_number(train)} against validation accuracy {_number(val)} in the "
                         "last epoch: the model fits its training images much better than new ones (overfitting); "
                         "more images, a stronger --augment or pretrained weights (--pretrained) narrow the gap")
    return found


def summarize_run(results: dict, config: dict, classes: list[str], images: dict[str, int],
                  matrix: dict[str, dict[str, int]], last_epoch: dict[str, float] | None = None) -> Summary:
    """The plain-words summary of one run.

    Args:
        results: results.json.
        config: config.yaml.
        classes: the class names in label order (classes.json).
        images: images per split (``train``, ``val``, ``test``), from splits.csv.
        matrix: the evaluated split's confusion matrix, true class -> predicted class -> images.
        last_epoch: the last row of metrics.csv (``train/acc``, ``val/acc``), for the overfitting warning.
    """
    if not results:
        return Summary(["The run did not finish its evaluation: there is no results.json yet."])
    split = "test" if any(key.startswith("test/") for key in results) else "val"
    sentences = [what_was_trained(config, classes, images, results), headline(results, split), confusions(matrix),
                 operating_point(results, split, classes)]
    return Summary([sentence for sentence in sentences if sentence], warnings_that_matter(results, split, last_epoch))



def _spread(entry: dict | None) -> str:
    """``0.913 ± 0.021``, or the mean alone where one member gives no spread."""
    if not entry or entry.get("mean") is None:
        return ""
    return _number(entry["mean"]) + (f" \u00b1 {_number(entry['std'])}" if entry.get("std") is not None else "")


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def summarize_repeats(results: dict, config: dict, unit: str, few_images: list[str] | None = None,
                      oof_matrix: dict[str, dict[str, int]] | None = None) -> Summary:
    """The plain-words summary of a k-fold run (``unit="fold"``, cv_results.json) or a repeated-seed run
    (``unit="seed"``, seeds_results.json).

    Args:
        few_images: the member folders (``fold_0``) whose operating threshold rests on few validation images.
        oof_matrix: the out-of-fold confusion matrix (k-fold), true class -> predicted class -> images.
    """
    members = results.get(f"finished_{unit}s", [])
    wanted = results.get(f"{unit}s")
    model, data = config.get("model", "?"), config.get("data", "?")
    if unit == "fold":
        sentences = [f"{wanted}-fold cross-validation of a {model} model on {data}: {len(members)} of {wanted} folds "
                     "finished, each trained on the other folds and evaluated on the same test split."]
    else:
        split = "a split of its own per seed" if config.get("resplit_per_seed") else \
            f"the one split of --seed {config.get('seed')}"
        sentences = [f"A {model} model trained on {data} once per seed ({', '.join(map(str, members))}), on "
                     f"{split}: the spread shows how much a number owes to the seed."]
    metrics = results.get("metrics", {})
    split = "test" if "test/acc" in metrics else "val"
    per = f"per_{unit}"
    if f"{split}/acc" in metrics:
        values = [value for value in metrics[f"{split}/acc"].get(per, []) if value is not None]
        extent = f" (from {_number(min(values))} to {_number(max(values))})" \
            if len(values) > 1 and _number(min(values)) != _number(max(values)) else ""
        f1 = _spread(metrics.get(f"{split}/f1_macro"))
        sentences.append(f"On the {split} split, accuracy {_spread(metrics[f'{split}/acc'])} over {len(values)} "
                         f"{unit}s{extent}" + (f", macro F1 {f1}." if f1 else "."))
    ensemble = (results.get("ensemble") or {}).get("test")
    if ensemble and ensemble.get("test/acc") is not None:
        sentences.append(f"The ensemble of the {len(members)} {unit}s (the mean of their probabilities): test "
                         f"accuracy {_number(ensemble['test/acc'])} on {ensemble['images']:,} images.")
    oof = results.get("out_of_fold")
    if oof:
        scores = (f"macro AUROC {_number(oof['oof/auroc'])}, macro F1 at the folds' thresholds "
                  f"{_number(oof['oof/f1_macro_at_thresholds'])}" if oof.get("task") == "multi_label" else
                  f"accuracy {_number(oof['oof/acc'])}, macro F1 {_number(oof['oof/f1_macro'])}")
        sentences.append(f"Out of fold (each of the {oof['images']:,} pool images predicted once, by the fold model "
                         f"that did not train on it): {scores}.")
    if oof_matrix:
        sentences.append(confusions(oof_matrix).replace("Most often confused:", "Most often confused out of fold:"))
    warnings = []
    missing = results.get(f"missing_{unit}s") or []
    if missing:
        several = len(missing) > 1
        warnings.append(f"{unit}{'s' if several else ''} {_listed([str(item) for item in missing])} "
                        f"{'have' if several else 'has'} not finished: every number covers the finished ones only")
    spread = (metrics.get(f"{split}/acc") or {}).get("std")
    if spread is not None and spread >= 0.05:
        warnings.append(f"{split} accuracy varies by \u00b1 {_number(spread)} between {unit}s: a single run's number "
                        f"could be off by that much, so quote the mean \u00b1 std")
    if few_images:
        warnings.append(f"the operating threshold of {_listed(sorted(few_images))} rests on few validation images "
                        "of a class (each one's report gives the count): "
                        + ("fewer folds give each fold more validation images" if unit == "fold" else
                           "a larger --val-size or k-fold (--folds 5) gives it more"))
    return Summary(sentences, warnings)
