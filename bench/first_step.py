"""Run `train.py` (default flags) until its first training batch starts, print the wall-clock time, and exit."""

import os
import sys
import time

import lightning as L

import litcls.runs.trainer


class _StopAtFirstStep(L.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        print(f"\nfirst training step at {time.time()}", flush=True)
        os._exit(0)  # leave at once: the measurement is taken


_build_callbacks = litcls.runs.trainer.build_callbacks
litcls.runs.trainer.build_callbacks = lambda *args: [*_build_callbacks(*args), _StopAtFirstStep()]

if __name__ == "__main__":
    from litcls.cli.train import main

    sys.exit(main(["--out-dir", "runs"]))
