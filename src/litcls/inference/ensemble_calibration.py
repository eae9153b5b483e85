"""What an ensemble applies to the mean of its members' probabilities: the temperature and two-class threshold its
run fitted on held-out rows (``ensemble.json``, written when a k-fold or seeds run aggregates; see
:mod:`litcls.runs.ensemble`), or nothing with ``--no-calibration``.

Only the standard library at import, so a missing file is reported before torch loads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from litcls.errors import UserError
from litcls.shell import train_command

ENSEMBLE_FILE = "ensemble.json"  # as litcls.runs.ensemble writes it


@dataclass(frozen=True)
class EnsembleDecision:
    """The temperature dividing log(mean probability), and for two classes (positive label, threshold on the
    reported probability); ``source`` says where they come from."""

    temperature: float = 1.0
    operating: tuple[int, float] | None = None
    source: str = "the plain mean of the members' own probabilities (--no-calibration)"


def run_folder(ckpt_args: Sequence[str | Path]) -> Path | None:
    """The k-fold or seeds run folder when it is the only ``--ckpt``; None otherwise."""
    if len(ckpt_args) != 1 or not Path(ckpt_args[0]).is_dir():
        return None
    folder = Path(ckpt_args[0])
    return folder if any(folder.glob("fold_*")) or any(folder.glob("seed_*")) else None


def ensemble_decision(ckpt_args: Sequence[str | Path], checkpoints: Sequence[Path], class_names: list[str] | None,
                      calibrated: bool = True) -> EnsembleDecision:
    """The decision of the ensemble of ``checkpoints`` (from ``--ckpt``); ``class_names`` None (the members not loaded
    yet) checks only what can be refused without them.

    Raises:
        UserError: calibration asked for, but there are no held-out predictions to fit it on: checkpoints given one
            by one, a run folder without ``ensemble.json`` (aggregated by an older litcls), or one whose
            ``ensemble.json`` names other members than the finished ones found now.
    """
    folder = run_folder(ckpt_args)
    if folder is None:
        if calibrated:
            raise UserError(f"--ckpt: {len(ckpt_args)} checkpoints given one by one have no out-of-fold predictions "
                            "to calibrate their ensemble on; add --no-calibration for the plain mean of their "
                            "probabilities, or pass the k-fold or seeds run folder they come from")
        return EnsembleDecision()
    file = folder / ENSEMBLE_FILE
    rerun = f"re-run the aggregation ({train_command('--aggregate', folder)}) or add --no-calibration"
    if not file.is_file():
        if calibrated:
            raise UserError(f"--ckpt: {folder} has no {ENSEMBLE_FILE} (the ensemble's temperature and threshold "
                            f"fitted on out-of-fold predictions); {rerun}")
        return EnsembleDecision()
    saved = json.loads(file.read_text(encoding="utf-8"))
    found = [Path(path).parent.parent.name for path in checkpoints]
    class_names = class_names if class_names is not None else saved.get("class_names", [])
    if not calibrated and (saved.get("members") != found or saved.get("class_names", class_names) != class_names):
        return EnsembleDecision()  # fitted for other members: its threshold does not apply, and none is needed
    if saved.get("members") != found:
        raise UserError(f"--ckpt: {file} was fitted for members {', '.join(saved.get('members') or [])}, but "
                        f"{folder} now has {', '.join(found)}; {rerun}")
    if saved.get("class_names", class_names) != class_names:
        raise UserError(f"--ckpt: {file} is for classes {', '.join(saved['class_names'])}, the members predict "
                        f"{', '.join(class_names)}; {rerun}")
    operating = None
    if "threshold" in saved:
        threshold = saved["threshold_calibrated"] if calibrated else saved["threshold"]
        operating = (class_names.index(saved["positive_class"]), float(threshold))
    if not calibrated:
        return EnsembleDecision(1.0, operating, "the plain mean of the members' own probabilities "
                                                f"(--no-calibration){f'; threshold from {file}' if operating else ''}")
    return EnsembleDecision(float(saved["temperature"]), operating, f"{file}, fitted on {saved['fitted_on']}")
