"""What a resumed run needs that a Lightning checkpoint does not hold.

* The random number generators' state, so a resumed run draws what the uninterrupted run would have drawn
  (dropout masks, stochastic layers). Together with the seeded epoch order of :mod:`litcls.data.loader`,
  training resumed on CPU, without augmentation, matches the uninterrupted run exactly. The states are put
  back when training starts rather than when the checkpoint is loaded: the sanity-check validation in
  between would advance them.
* Checkpoint paths that follow the run folder: Lightning's ``ModelCheckpoint`` stores absolute paths and
  forgets its best score when a run folder was moved or copied (from a cluster's scratch disk, say) before
  resuming; the paths are rewritten to the folder the run resumes in.
* Loggers' files up to date with the checkpoint: Lightning's CSV logger writes every 100 steps, so a killed
  run would lose what it logged since; flushing on every checkpoint keeps everything before it.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch


class ResumeState(L.Callback):
    """Save the generator states (Python, NumPy, torch CPU and CUDA) in checkpoints and flush the loggers."""

    def __init__(self) -> None:
        self._loaded: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        state = {
            "python": random.getstate(),
            # tensors and plain numbers only, so checkpoints load with torch.load(weights_only=True)
            "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos,
                      "has_gauss": has_gauss, "cached_gaussian": cached},
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        for logger in trainer.loggers:
            logger.save()

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        for key, state in checkpoint.get("callbacks", {}).items():
            current = trainer.checkpoint_callback
            if key.startswith("ModelCheckpoint") and current is not None and state.get("dirpath"):
                _move_checkpoint_paths(state, state["dirpath"], current.dirpath)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._loaded = state_dict

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._loaded is None:
            return
        state, self._loaded = self._loaded, None
        random.setstate(state["python"])
        numpy_state = state["numpy"]
        np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                             numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])


def _move_checkpoint_paths(state: dict[str, Any], old_dir: str, new_dir: str) -> None:
    """Rewrite the file paths in a ``ModelCheckpoint`` state from ``old_dir`` to ``new_dir``, in place."""
    def moved(path: Any) -> Any:
        return str(Path(new_dir) / Path(path).relative_to(old_dir)) if path and Path(path).is_relative_to(
            old_dir) else path

    for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
        if key in state:
            state[key] = moved(state[key])
    if "best_k_models" in state:
        state["best_k_models"] = {moved(path): score for path, score in state["best_k_models"].items()}
    state["dirpath"] = new_dir
