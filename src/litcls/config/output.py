"""The output part of the configuration: where the run folder goes, how progress is shown, and the experiment
loggers with their W&B settings."""

from __future__ import annotations

from dataclasses import dataclass

from litcls.plugins import is_import_path, parse_plugin
from litcls.settings import check_choices, setting

LOGGERS = ("csv", "tensorboard", "wandb", "none")
PROGRESS = ("auto", "bar", "lines", "none")
WANDB_MODES = ("auto", "online", "offline", "disabled")


@dataclass
class OutputSettings:
    """The run folder, the progress display and the loggers."""

    out_dir: str = setting("runs", "folder that holds run folders", group="output")
    name: str | None = setting(None, "run folder name (default: <data>-<model>-<date>-<time>)", group="output")
    logger: list[str] = setting(["csv"], "experiment loggers, several allowed; also your own Lightning Logger as "
                                "pkg.module:Class or pkg.module:Class:{\"arg\": 1} (JSON keyword arguments), given "
                                "the run folder as save_dir when its constructor takes one", LOGGERS, group="output")
    wandb_project: str = setting("litcls", "W&B project", group="weights & biases")
    wandb_entity: str | None = setting(None, "W&B entity (user or team; default: yours)", group="weights & biases")
    wandb_mode: str = setting("auto", "auto: online when logged in (or WANDB_API_KEY is set), else offline",
                              WANDB_MODES, group="weights & biases")
    progress: str = setting("auto", "progress display: bar (Lightning's progress bar), lines (one line per epoch), "
                            "none; auto = bar on a terminal, lines otherwise (a batch job's log)", PROGRESS,
                            group="output")
    tags: list[str] = setting([], "W&B tags", group="weights & biases")
    group: str | None = setting(None, "W&B group (k-fold and repeated-seed runs are grouped by run name)",
                                group="weights & biases")
    log_model: bool = setting(True, "upload the best and last checkpoints as a W&B model artifact",
                              group="weights & biases")

    def validate(self) -> None:
        """Check values that need no heavy import; raise UserError naming the flag at fault."""
        check_choices(self, exempt=lambda name, value: name == "logger" and is_import_path(value))
        for spec in filter(is_import_path, self.logger):
            parse_plugin(spec, "--logger")
