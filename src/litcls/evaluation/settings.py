"""The evaluation part of the configuration: the metric that selects the best checkpoint, what the final
evaluation measures and decides (positive class, threshold rule, bootstrap intervals) and the figures it draws,
with the rules these settings must follow."""

from __future__ import annotations

from dataclasses import dataclass

from litcls.evaluation.metrics import monitors
from litcls.evaluation.threshold import parse_rule
from litcls.settings import check_at_least, check_choices, setting

# metric -> the direction that is better; early stopping and checkpointing use it (from the metric table).
MONITORS = monitors()


@dataclass
class EvaluationSettings:
    """Selection and evaluation."""

    monitor: str | None = setting(None, "validation metric for early stopping and the best checkpoint (default: "
                                  "val/loss; val/auroc for multi-label data)", tuple(MONITORS))
    gradcam_per_class: int = setting(2, "Grad-CAM overlays of this many evaluation images per class; 0 = none",
                                     group="evaluation")
    gradcam_mistakes: int = setting(8, "Grad-CAM overlays of this many most confident mistakes; 0 = none",
                                    group="evaluation")
    gradcam_layer: str | None = setting(None, "module whose activations Grad-CAM explains, as a path from the "
                                        "LightningModule (e.g. model.features.3); None = found automatically",
                                        group="evaluation")
    plots_every_epoch: bool = setting(False, "also write the validation confusion matrix and Grad-CAM gallery "
                                      "after every epoch, under epochs/ (slower)", group="evaluation")
    positive_class: str | None = setting(None, "two-class tasks: the class whose sensitivity, specificity, PPV and "
                                         "NPV are reported (default: the second class in label order)",
                                         group="evaluation")
    threshold_rule: str | None = setting(None, "two-class tasks: how the operating threshold is chosen on the "
                                         "validation split: youden, f1, sensitivity=X or specificity=X, X in (0, 1) "
                                         "(default: youden)", group="evaluation")
    bootstrap: int = setting(1000, "bootstrap replicates for 95%% intervals of the evaluated split's metrics (whole "
                             "groups with --groups); 0 = none", group="evaluation")

    def validate(self) -> None:
        """Check values that need no heavy import; raise UserError naming the flag at fault."""
        check_at_least(self, 0, "gradcam_per_class", "gradcam_mistakes", "bootstrap")
        check_choices(self, exempt=lambda name, value: name == "monitor" and value is None)  # None: the task's
        if self.threshold_rule is not None:
            parse_rule(self.threshold_rule)
