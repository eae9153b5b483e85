"""Stop training on SIGTERM or Ctrl+C with a checkpoint that resumes exactly where training stopped.

Lightning's own SIGTERM handling raises at the next batch of training *or validation*; a checkpoint taken
inside validation resumes with that epoch's validation metrics computed on the remaining batches only, and
Ctrl+C (KeyboardInterrupt) can strike in the middle of an optimizer step. This callback takes both signals
over while training runs and acts only between training batches: it saves ``last.ckpt`` after the current
batch and stops. A signal that arrives during validation lets validation finish; the epoch-end
``last.ckpt`` is then already current. A second Ctrl+C aborts at once, without a new checkpoint.
During the final test (or validation) of the best checkpoint, a signal stops before ``results.json`` is
written (Lightning alone would exit with status 0 and no results); ``--resume`` then runs the test again.
"""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info

from litcls.errors import TrainingInterrupted

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulStop(L.Callback):
    """Turn SIGINT and SIGTERM into a checkpoint at the next training-batch boundary, then a clean stop.

    Args:
        run_dir: the run folder; the checkpoint is ``run_dir/checkpoints/last.ckpt``, the file
            ``--resume`` looks for.
    """

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.checkpoint = self.run_dir / "checkpoints" / "last.ckpt"
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            self._restore()
            print("\nsecond Ctrl+C: aborting without a new checkpoint", flush=True)
            raise KeyboardInterrupt
        self.signum = signum
        print(f"\n{signal.Signals(signum).name} received: saving a checkpoint after this batch, then stopping "
              "(Ctrl+C again aborts without one)", flush=True)

    def _install(self) -> None:
        if self._previous:
            return
        try:
            self._previous = {signum: signal.signal(signum, self._handle) for signum in _SIGNALS}
        except ValueError:  # not the main thread: signals cannot be handled here, leave them as they are
            self._previous = {}

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _stop_requested(self, trainer: L.Trainer) -> bool:
        # every DDP process must stop at the same batch, whichever of them received the signal
        return bool(trainer.strategy.reduce_boolean_decision(self.signum is not None, all=False))

    def on_sanity_check_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._install()  # Lightning registers its own handlers at fit start; these replace them until fit ends

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._install()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._stop_requested(trainer):  # arrived during validation: the epoch-end checkpoint is current
            raise TrainingInterrupted(self._signum(), self.run_dir, None, f"before epoch {trainer.current_epoch + 1}",
                                      quiet=not trainer.is_global_zero)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not self._stop_requested(trainer):
            return
        if batch_idx + 1 >= trainer.num_training_batches:
            return  # the epoch's last batch: validate and save the epoch-end checkpoint, stop at the next epoch
        checkpoint = None
        if not trainer.fast_dev_run:
            trainer.save_checkpoint(self.checkpoint, weights_only=False)
            checkpoint = self.checkpoint
        # epochs counted from 1, as the epoch lines and progress bar show them
        where = f"in epoch {trainer.current_epoch + 1} after batch {batch_idx + 1} of {trainer.num_training_batches}"
        raise TrainingInterrupted(self._signum(), self.run_dir, checkpoint, where, quiet=not trainer.is_global_zero)

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._install()

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn != TrainerFn.FITTING:
            self._install()

    # Checked once at the end of the final evaluation, not per batch: under DDP each process evaluates its own
    # share of the images without padding, so the processes may run different numbers of batches, and a
    # per-batch collective decision would leave one of them waiting forever.
    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop_evaluation(trainer)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn != TrainerFn.FITTING:
            self._stop_evaluation(trainer)

    def _stop_evaluation(self, trainer: L.Trainer) -> None:
        if self._stop_requested(trainer):
            raise TrainingInterrupted(self._signum(), self.run_dir, None, "during the final evaluation, before "
                                      "results.json was written", quiet=not trainer.is_global_zero)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn != TrainerFn.FITTING:
            self._restore()

    def _signum(self) -> int:
        return self.signum if self.signum is not None else signal.SIGTERM  # another DDP process got it

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()
        if self.signum is not None:
            rank_zero_info("training had finished when the signal arrived; stopping before the test")

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore()

    def raise_if_stopped(self, trainer: L.Trainer) -> None:
        """After ``fit``: a signal that arrived during the last validation still stops the run before testing."""
        if self._stop_requested(trainer):
            raise TrainingInterrupted(self._signum(), self.run_dir, None, "after the last epoch, before the test",
                                      quiet=not trainer.is_global_zero)
