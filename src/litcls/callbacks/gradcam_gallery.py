"""gradcam/: Grad-CAM overlays of a fixed sample of evaluation images per class and of the worst mistakes
(multi-label: of images per label, an overlay per label each image is called positive for)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import Dataset

from litcls.callbacks.predictions import PredictionCollector
from litcls.models.gradcam import Target, gradcam_heatmaps, overlay, resolve_target_layer, to_display
from litcls.tasks import SingleLabel
from litcls.tracking.loggers import log_image


def select_examples(labels: np.ndarray, probabilities: np.ndarray, per_class: int,
                    mistakes: int) -> list[tuple[str, int]]:
    """(file stem, dataset index) of the images to explain.

    Per class, ``per_class`` images evenly spread over the class's images in dataset order (the same images
    every epoch and every run on the same split); then the ``mistakes`` wrong predictions made with the
    highest probability.
    """
    chosen = []
    for label in range(probabilities.shape[1]):
        members = np.flatnonzero(labels == label)
        take = min(per_class, len(members))
        for rank, position in enumerate(np.linspace(0, len(members) - 1, take).round().astype(int) if take else []):
            chosen.append((f"class-{label:02d}-{rank}", int(members[position])))
    task = SingleLabel()
    predicted, confidence = task.decide(probabilities), task.confidence(probabilities)
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")][:mistakes]
    chosen += [(f"mistake-{rank:02d}", int(index)) for rank, index in enumerate(wrong)]
    return chosen


def select_label_examples(truth: np.ndarray, per_class: int) -> list[tuple[str, int]]:
    """Multi-label: (file stem, dataset index) of ``per_class`` images per label, evenly spread over the images
    where that label is positive (dataset order: the same images every run on the same split)."""
    chosen = []
    for label in range(truth.shape[1]):
        members = np.flatnonzero(truth[:, label] == 1)
        take = min(per_class, len(members))
        for rank, position in enumerate(np.linspace(0, len(members) - 1, take).round().astype(int) if take else []):
            chosen.append((f"label-{label:02d}-{rank}", int(members[position])))
    return chosen


class GradCAMGallery(L.Callback):
    """Explain a few evaluation images with Grad-CAM and save them under ``gradcam/``.

    :meth:`explain` picks ``per_class`` images of each class and the ``mistakes`` most confident wrong predictions
    from predictions already made, and writes one PNG per image (the image beside its overlay, titled true class,
    predicted class and probability); each is also sent to the loggers that take images. After training, the
    evaluation (:mod:`litcls.runs.evaluate`) calls it with the evaluated split's predictions; with
    ``every_epoch`` the validation split is explained after every training epoch, under
    ``epochs/epoch_<n>/gradcam/``, from the logits ``predictions`` collected. Nothing is predicted a second time.
    Models without a convolution are skipped with one message.

    Args:
        run_dir: the run folder.
        per_class: images explained per class.
        mistakes: most confident mistakes explained.
        layer: module path from the LightningModule (``model.features.3``); None finds it automatically.
        every_epoch: also explain the validation split after every training epoch.
        predictions: the collector whose validation logits the epochs' galleries show (needed by ``every_epoch``).
    """

    def __init__(self, run_dir: str | Path, per_class: int = 2, mistakes: int = 8, layer: str | None = None,
                 every_epoch: bool = False, predictions: PredictionCollector | None = None):
        for name, value in (("per_class", per_class), ("mistakes", mistakes)):
            if value < 0:
                raise ValueError(f"{name} must be 0 or more, got {value}")
        if every_epoch and predictions is None:
            raise ValueError("every_epoch needs the PredictionCollector whose validation logits it explains")
        self.run_dir = Path(run_dir)
        self.per_class = per_class
        self.mistakes = mistakes
        self.layer = layer
        self.every_epoch = every_epoch
        self.predictions = predictions
        self._target: Target | None = None
        self._target_of: L.LightningModule | None = None  # the module the target layer belongs to

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Find (or check) the target layer before any training, so a wrong ``--gradcam-layer`` costs nothing."""
        if self._target_of is pl_module or not (self.per_class or self.mistakes):
            return
        self._target_of = pl_module
        self._target = resolve_target_layer(pl_module, self.layer, pl_module.preprocessing.input_shape)
        if self._target is None:
            rank_zero_info(f"Grad-CAM skipped: model {pl_module.hparams.get('model', '')!r} has no convolutional "
                           "layer or patch grid to explain")
        else:
            rank_zero_info(f"Grad-CAM explains {self._target[0]}")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not (self.every_epoch and trainer.state.fn == TrainerFn.FITTING and trainer.is_global_zero
                and not trainer.sanity_checking and not trainer.fast_dev_run and not pl_module.task.multi_hot):
            return
        logits = self.predictions.logits.get("val")
        if logits is None:
            return
        loaders = trainer.val_dataloaders
        dataset = loaders[0].dataset if isinstance(loaders, (list, tuple)) else loaders.dataset
        self.explain(pl_module, dataset, pl_module.task.probabilities(logits),
                     np.asarray(dataset.labels), self.run_dir / "epochs" / f"epoch_{trainer.current_epoch:03d}" /
                     "gradcam", trainer.loggers, trainer.global_step, "val")

    def explain(self, pl_module: L.LightningModule, dataset: Dataset, probabilities: np.ndarray, labels: np.ndarray,
                folder: Path, loggers: list = (), step: int = 0, split: str = "test") -> list[tuple[int, Path]]:
        """Write the gallery of ``dataset`` into ``folder`` (replacing an earlier one), on the module's device.

        Args:
            pl_module: the module whose predictions are explained (the target layer was found on it in ``setup``).
            dataset: the evaluated images, in the order of ``probabilities``.
            probabilities: (N, C) class probabilities the module gave them.
            labels: (N,) true labels.
            folder: where the PNG files go.
            loggers: loggers that take images get each one as ``<split>/gradcam/<name>``.
            step: the step the images are logged at.
            split: the split's name, for the loggers.

        Returns:
            (dataset index, PNG file) of every image explained; an image can be both a class sample and a mistake.
        """
        from litcls.report.figures import plot_gradcam
        from litcls.report.fonts import drawable_labels

        if self._target is None or self._target_of is not pl_module:
            return []
        chosen = select_examples(labels, probabilities, self.per_class, self.mistakes)
        if not chosen:
            return []
        param = next(pl_module.parameters())
        images = torch.stack([dataset[index][0] for _, index in chosen]).to(param.device, param.dtype)
        predicted = pl_module.task.decide(probabilities)
        explained = pl_module.task.explained(probabilities)  # the predicted class of each image
        heatmaps = gradcam_heatmaps(pl_module, self._target, images, [explained[i][0] for _, i in chosen])
        pre = pl_module.preprocessing
        shown = to_display(images, pre.mean, pre.std)
        overlays = overlay(shown, heatmaps)
        titles = drawable_labels(pl_module.class_names)  # once for every class: labels by class index
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):  # a re-run of the evaluation replaces the gallery, never mixes two
            old.unlink()
        written = []
        for (stem, index), image, cam in zip(chosen, shown, overlays, strict=True):
            path = folder / f"{stem}.png"
            pixels = plot_gradcam(image, cam, int(labels[index]), int(predicted[index]),
                                  float(probabilities[index, predicted[index]]), titles, path)
            log_image(loggers, f"{split}/gradcam/{stem}", pixels, step)
            written.append((index, path))
        return written

    def explain_labels(self, pl_module: L.LightningModule, dataset: Dataset, probabilities: np.ndarray,
                       truth: np.ndarray, thresholds: list[float], folder: Path, loggers: list = (), step: int = 0,
                       split: str = "test") -> list[tuple[int, Path]]:
        """Multi-label: for ``per_class`` images where each label is positive, an overlay of every label the image
        is called positive for at ``thresholds`` (the most probable label when none is), one PNG each,
        ``<stem>-cam-<label>.png``, titled with the true and the called labels.

        Returns:
            (dataset index, PNG file) of every overlay written.
        """
        from litcls.report.figures import plot_gradcam
        from litcls.report.fonts import drawable_labels

        if self._target is None or self._target_of is not pl_module:
            return []
        explained = pl_module.task.explained(probabilities, dict(enumerate(thresholds)))
        pairs = [(stem, index, int(label)) for stem, index in select_label_examples(truth, self.per_class)
                 for label in (explained[index] or [int(probabilities[index].argmax())])]
        if not pairs:
            return []
        param = next(pl_module.parameters())
        images = torch.stack([dataset[index][0] for _, index, _ in pairs]).to(param.device, param.dtype)
        heatmaps = gradcam_heatmaps(pl_module, self._target, images, [label for _, _, label in pairs])
        pre = pl_module.preprocessing
        shown = to_display(images, pre.mean, pre.std)
        overlays = overlay(shown, heatmaps)
        titles = drawable_labels(pl_module.class_names)
        names = titles[0]
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()
        written = []
        for (stem, index, label), image, cam in zip(pairs, shown, overlays, strict=True):
            true = "|".join(names[k] for k in np.flatnonzero(truth[index] == 1)) or "none"
            called = "|".join(names[k] for k in explained[index]) or "none"
            title = (f"true: {true}   called: {called}\nGrad-CAM of {names[label]} "
                     f"({probabilities[index, label]:.2f})")
            path = folder / f"{stem}-cam-{label:02d}.png"
            pixels = plot_gradcam(image, cam, None, label, float(probabilities[index, label]), titles, path, title)
            log_image(loggers, f"{split}/gradcam/{path.stem}", pixels, step)
            written.append((index, path))
        return written
