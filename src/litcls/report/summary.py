"""The short table printed at the end of a run."""

from __future__ import annotations

from pathlib import Path


def format_value(value: float, interval: list | None = None) -> str:
    """``0.9630`` or, with a confidence interval, ``0.9630 [0.9407, 0.9815]``."""
    if interval is None or None in interval:
        return f"{value:.4f}"
    return f"{value:.4f} [{interval[0]:.4f}, {interval[1]:.4f}]"


def decision_rows(results: dict) -> list[tuple[str, str]]:
    """What the evaluation decided on the validation split: the temperature and the operating threshold."""
    rows = []
    calibration = results.get("calibration")
    if calibration and "temperature" in calibration:
        rows.append(("temperature", f"{calibration['temperature']:.3f} " + (
            f"({calibration['note']})" if calibration.get("note") else "(fitted on val; *_calibrated metrics use it)")))
    elif calibration:  # multi-label: one per label
        rows.append(("temperatures", ", ".join(f"{t:.3f}" for t in calibration["temperatures"])
                     + f" (per label, fitted on val; one shared would be {calibration['shared_temperature']:.3f})"))
    thresholds = results.get("thresholds")
    if thresholds:
        rows.append(("thresholds", ", ".join(f"{name} {value:.3g}" for name, value in thresholds["by_label"].items())
                     + f" ({thresholds['rule']} per label on val)"))
    point = results.get("operating_point")
    if point:
        rows.append(("operating point", f"{point['positive_class']!r} when prob_{point['positive_class']} >= "
                                        f"{point['threshold']:.4g} ({point['rule']} on val; calibrated "
                                        f"{point['threshold_calibrated']:.4g})"))
    return rows


def print_summary(run_dir: Path, results: dict) -> None:
    """Print the evaluated metrics (with their 95% intervals), the decisions, the best checkpoint and where the run
    folder is."""
    intervals = (results.get("confidence_intervals") or {}).get("metrics", {})
    metric_rows = [(key, format_value(value, intervals.get(key))) for key, value in results.items()
                   if "/" in key and isinstance(value, float)]
    info_rows = [
        *decision_rows(results),
        ("best checkpoint", f"{results['best_checkpoint']} ({results['monitor']} = {results['best_score']:.4f})"
         if results.get("best_checkpoint") else "none (fast dev run)"),
        ("epochs trained", str(results["epochs_trained"])),
        ("effective batch", f"{results['effective_batch_size']} images per optimizer step "
                            f"({results['processes']} process{'es' if results['processes'] > 1 else ''})"),
        ("time", f"{results['seconds']:.0f} s"),
        *([("feature extraction", f"{results['cached_features']['seconds']:.1f} s "
            f"({'read from the cache' if results['cached_features']['reused'] else 'embedded and cached'})")]
          if "cached_features" in results else []),
        *([("learning rate", f"{results['lr_find']['lr']:.3g} (--lr-find)")] if "lr_find" in results else []),
        ("run folder", str(run_dir)),
    ]
    rows = metric_rows + info_rows
    width = max(len(key) for key, _ in rows)
    line = "-" * (width + 40)
    print(f"\n{line}")
    if intervals:
        print(f"[95% bootstrap interval over {results['confidence_intervals']['replicates']} resamples of the "
              f"{results['confidence_intervals']['split']} {results['confidence_intervals']['resampled']}]")
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    warning = (results.get("operating_point") or {}).get("few_images")
    for note in results.get("notes", []):
        print(f"{'warning' if note == warning else 'note'}: {note}")
    print(line)
