"""The repeats part of the configuration: a run repeated over the folds of a cross-validation or over seeds,
with the rules these settings must follow."""

from __future__ import annotations

from dataclasses import dataclass

from litcls.errors import UserError
from litcls.settings import setting


@dataclass
class RepeatSettings:
    """k-fold cross-validation, one fold as a job of an array, or repeated seeds."""

    folds: int = setting(0, "cross-validation with FOLDS stratified folds (at least 2) over the images outside "
                         "the test split; 0 = one train/val split", group="cross-validation")
    fold: int | None = setting(None, "run only this fold (0 to FOLDS-1) into <out-dir>/<name>/fold_<FOLD>, as one "
                               "job of a cluster array; needs --folds and --name", group="cross-validation")
    seeds: list[int] = setting([], "train once per seed into <out-dir>/<name>/seed_<s>/ and aggregate mean and "
                               "std; the split stays that of --seed", group="repeated seeds")
    resplit_per_seed: bool = setting(False, "with --seeds: each seed also draws its own split",
                                     group="repeated seeds")

    def validate(self) -> None:
        """Check values that need no heavy import; raise UserError naming the flag at fault."""
        if self.folds < 0 or self.folds == 1:
            raise UserError(f"--folds must be 0 (no cross-validation) or at least 2, got {self.folds}")
        if self.fold is not None:
            if not self.folds:
                raise UserError(f"--fold {self.fold} needs --folds K: the number of folds the pool is split into")
            if not 0 <= self.fold < self.folds:
                raise UserError(f"--fold must be in 0..{self.folds - 1} for --folds {self.folds}, got {self.fold}")
        if self.seeds:
            if self.folds:
                raise UserError("--seeds and --folds: repeat a single train/val split over seeds (--seeds) or "
                                "cross-validate (--folds, whose mean ± std is over folds); give one of them")
            if len(set(self.seeds)) != len(self.seeds):
                raise UserError(f"--seeds must be different from each other, got {' '.join(map(str, self.seeds))}")
        elif self.resplit_per_seed:
            raise UserError("--resplit-per-seed needs --seeds")
