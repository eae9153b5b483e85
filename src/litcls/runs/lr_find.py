"""``--lr-find``: Lightning's learning-rate finder on the training split, before the run's own training.

The finder (Smith, "Cyclical Learning Rates", 2017) trains for up to 100 steps while the rate grows
exponentially from 1e-8 to 1, records the smoothed loss, and suggests the rate where the loss falls fastest.
It runs in a throwaway Trainer with no logger, checkpoint or run-folder callback, so nothing it does reaches
``metrics.csv`` or the checkpoints; Lightning restores the model's weights afterwards. With ``--freeze-backbone``
the backbone is frozen during the search as in training (with ``--cache-features`` the head sees the features).
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import lightning as L
import pandas as pd
from lightning.pytorch.tuner import Tuner
from lightning.pytorch.utilities import rank_zero_info

from litcls.callbacks.freeze_backbone import BackboneFreeze
from litcls.config import TrainConfig
from litcls.runs.trainer import progress_mode

NUM_TRAINING = 100


def find_lr(config: TrainConfig, module: L.LightningModule, datamodule: L.LightningDataModule,
            run_dir: Path) -> tuple[float, float | None]:
    """Run the finder, write ``lr_find.csv`` and ``lr_find.png`` into ``run_dir``, and return (the rate to train
    with, the finder's suggestion or None). Without a suggestion the rate is ``--lr``, with a warning."""
    with tempfile.TemporaryDirectory(prefix="litcls-lr-find-") as scratch:  # the finder's temporary checkpoint
        trainer = L.Trainer(default_root_dir=scratch, max_epochs=-1, logger=False, enable_checkpointing=False,
                            enable_model_summary=False, accelerator=config.hardware.accelerator, devices=1,
                            enable_progress_bar=progress_mode(config.output.progress) == "bar",
                            precision=config.hardware.precision, num_sanity_val_steps=0,
                            callbacks=[BackboneFreeze()] if config.model.freeze_backbone else [])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            finder = Tuner(trainer).lr_find(module, datamodule=datamodule, num_training=NUM_TRAINING,
                                            update_attr=False)
    suggestion = finder.suggestion() if finder and len(finder.results.get("lr", [])) > 11 else None
    if finder:
        pd.DataFrame(finder.results).to_csv(run_dir / "lr_find.csv", index=False)
        figure = finder.plot(suggest=suggestion is not None)
        figure.savefig(run_dir / "lr_find.png", dpi=100)
        import matplotlib.pyplot as plt

        plt.close(figure)
    if suggestion is None:
        warnings.warn(f"--lr-find could not suggest a learning rate (too few steps recorded, or a loss that never "
                      f"fell); training with --lr {config.recipe.lr}", stacklevel=2)
        return config.recipe.lr, None
    rank_zero_info(f"--lr-find: learning rate {suggestion:.3g} (lr_find.png in the run folder)")
    return float(suggestion), float(suggestion)
