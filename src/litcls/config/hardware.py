"""The hardware part of the configuration: Lightning's accelerator, devices, strategy and precision flags and
how batches are accumulated. Lightning itself checks the values it knows
(:func:`litcls.runs.trainer.check_hardware`)."""

from __future__ import annotations

from dataclasses import dataclass

from litcls.settings import check_at_least, setting


@dataclass
class HardwareSettings:
    """Where and how fast the run computes."""

    accelerator: str = setting("auto", "Lightning accelerator: auto, cpu, gpu, mps, ...", group="hardware")
    devices: str = setting("auto", "devices per node: auto, a count (2) or a list of ids (0,1)", group="hardware")
    strategy: str = setting("auto", "Lightning strategy: auto, ddp, ddp_spawn, ...", group="hardware")
    num_nodes: int = setting(1, "number of machines", group="hardware")
    precision: str = setting("32-true", "numeric precision: 32-true, 16-mixed, bf16-mixed", group="hardware")
    sync_batchnorm: bool = setting(False, "synchronise batch-norm statistics across processes (DDP)",
                                   group="hardware")
    accumulate_grad_batches: int = setting(1, "batches whose gradients are summed before each optimizer step",
                                           group="hardware")
    fast_dev_run: bool = setting(False, "run one batch of train, val and test to check the set-up", group="hardware")

    def validate(self) -> None:
        """Check values that need no heavy import; raise UserError naming the flag at fault."""
        check_at_least(self, 1, "num_nodes", "accumulate_grad_batches")
