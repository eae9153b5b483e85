"""The training loader: a seeded epoch order (shuffled or class-balanced) that resumes mid-epoch.

Lightning saves a train loader's ``state_dict()`` in every checkpoint and hands it back through
``load_state_dict()`` when a run resumes from one taken inside an epoch. A plain ``DataLoader`` has no
state, so Lightning would start the interrupted epoch over in a fresh order, showing some images twice and
others not at all (it warns that results are then "unreliable"). Here every epoch's order is a function of
the seed and the epoch number alone, and the loader records how many batches it has handed out, so a
resumed epoch continues with exactly the batches the interrupted one had left.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator, Sequence
from typing import Any

import albumentations as A
import torch
from lightning.fabric.utilities.seed import pl_worker_init_function
from torch.utils.data import DataLoader, Dataset, DistributedSampler, get_worker_info

from litcls.data.transforms import seed_augmentation


class EpochSampler(DistributedSampler):
    """Indices of one epoch, drawn from ``seed + epoch``: a permutation, or with ``weights`` a weighted draw.

    With ``weights`` (one per sample) it draws ``len(dataset)`` indices with replacement, as
    ``torch.utils.data.WeightedRandomSampler`` does, so rare classes are seen as often as common ones.
    It subclasses ``DistributedSampler`` for its seeding and its share per DDP rank, and because Lightning
    leaves a ``DistributedSampler`` in place instead of wrapping it in another one.

    Args:
        dataset: the training dataset (only its length is used).
        seed: the run's seed.
        weights: optional sampling weight per sample.
        num_replicas: number of DDP processes.
        rank: this process's rank.
    """

    def __init__(self, dataset: Dataset, seed: int, weights: Sequence[float] | None = None, num_replicas: int = 1,
                 rank: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        if self.weights is not None and len(self.weights) != len(dataset):
            raise ValueError(f"{len(self.weights)} weights for {len(dataset)} samples")
        self.skip = 0  # indices of this epoch to leave out, set by ResumableLoader when resuming mid-epoch

    def __iter__(self) -> Iterator[int]:
        if self.weights is None:
            indices = list(super().__iter__())
        else:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            drawn = torch.multinomial(self.weights, self.total_size, replacement=True, generator=generator)
            indices = drawn[self.rank:self.total_size:self.num_replicas].tolist()
        skip, self.skip = self.skip, 0
        return iter(indices[skip:])


class ResumableLoader(DataLoader):
    """A ``DataLoader`` over an :class:`EpochSampler` whose position in the epoch is checkpointed.

    Args:
        dataset: the training dataset.
        sampler: its epoch sampler.
        seed: seeds the loader's own generator at every epoch, from which worker seeds are drawn, so the
            global random state (dropout, initialisation) is not consumed by starting an epoch.
        **kwargs: any other ``DataLoader`` argument.
    """

    def __init__(self, dataset: Dataset, sampler: EpochSampler, seed: int, **kwargs: Any):
        kwargs.setdefault("generator", torch.Generator())
        super().__init__(dataset, sampler=sampler, **kwargs)
        self.seed = seed
        self._epoch = 0
        self._batches = 0
        self._resume_from: dict[str, int] = {}

    def __iter__(self) -> Iterator[Any]:
        # a generator: this body runs at the first batch, after Lightning has called sampler.set_epoch()
        epoch = self.sampler.epoch
        skip = self._resume_from.get("batches", 0) if self._resume_from.get("epoch") == epoch else 0
        self._resume_from = {}
        self.sampler.skip = skip * self.batch_size
        self.generator.manual_seed(self.seed + epoch)
        self._epoch, self._batches = epoch, skip
        for batch in super().__iter__():
            self._batches += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self._epoch, "batches": self._batches}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._resume_from = dict(state)


def worker_init(worker_id: int) -> None:
    """Seed the worker as Lightning does, seed its copy of the augmentation, and leave Ctrl+C and SIGTERM to
    the main process.

    The worker's seed is drawn from the loader's generator, which :class:`ResumableLoader` seeds from the run's
    seed, so augmentation is reproducible from ``--seed`` with any number of workers.

    A terminal sends Ctrl+C to every process of the job; a worker would die of it before the main
    process finished its batch and saved a checkpoint (see :mod:`litcls.callbacks.graceful_stop`).
    Workers still stop when the main process exits.
    """
    pl_worker_init_function(worker_id)
    info = get_worker_info()
    transform = getattr(info.dataset, "transform", None) if info else None
    if isinstance(transform, A.BaseCompose):
        seed_augmentation(transform, info.seed % 2**32)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
