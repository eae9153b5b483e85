"""The short table printed at the end of a run."""

from __future__ import annotations

from pathlib import Path


def print_summary(run_dir: Path, results: dict) -> None:
    """Print the evaluated metrics, the best checkpoint and where the run folder is."""
    metric_rows = [(key, f"{value:.4f}") for key, value in results.items()
                   if "/" in key and isinstance(value, float)]
    info_rows = [
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
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    print(line)
