"""gradcam/: Grad-CAM overlays of a fixed sample of evaluation images per class and of the worst mistakes."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader, Dataset

from litcls.gradcam import gradcam_heatmaps, overlay, preserved_state, resolve_target_layer, to_display
from litcls.tracking import log_image


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
    predicted, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")][:mistakes]
    chosen += [(f"mistake-{rank:02d}", int(index)) for rank, index in enumerate(wrong)]
    return chosen


class GradCAMGallery(L.Callback):
    """Explain a few evaluation images with Grad-CAM and save them under ``gradcam/``.

    After ``trainer.test`` (or ``trainer.validate`` outside fitting) rank zero predicts every image of the
    evaluated dataset once, picks ``per_class`` images of each class and the ``mistakes`` most confident wrong
    predictions, and writes one PNG per image (the image beside its overlay, titled true class, predicted
    class and probability) to ``run_dir/gradcam/``; each is also sent to the loggers that take images.
    With ``every_epoch`` the validation split is explained after every training epoch, under
    ``epochs/epoch_<n>/gradcam/``. Models without a convolution are skipped with one message.

    Args:
        run_dir: the run folder.
        per_class: images explained per class.
        mistakes: most confident mistakes explained.
        layer: module path from the LightningModule (``model.features.3``); None finds it automatically.
        every_epoch: also explain the validation split after every training epoch.
    """

    def __init__(self, run_dir: str | Path, per_class: int = 2, mistakes: int = 8, layer: str | None = None,
                 every_epoch: bool = False):
        for name, value in (("per_class", per_class), ("mistakes", mistakes)):
            if value < 0:
                raise ValueError(f"{name} must be 0 or more, got {value}")
        self.run_dir = Path(run_dir)
        self.per_class = per_class
        self.mistakes = mistakes
        self.layer = layer
        self.every_epoch = every_epoch
        self._target: tuple[str, torch.nn.Module] | None = None
        self._target_of: L.LightningModule | None = None  # the module the target layer belongs to

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Find (or check) the target layer before any training, so a wrong ``--gradcam-layer`` costs nothing."""
        if self._target_of is pl_module or not (self.per_class or self.mistakes):
            return
        self._target_of = pl_module
        self._target = resolve_target_layer(pl_module, self.layer, pl_module.preprocessing.img_size)
        if self._target is None:
            rank_zero_info(f"Grad-CAM skipped: model {pl_module.hparams.get('model', '')!r} has no convolutional "
                           "layer to explain")
        else:
            rank_zero_info(f"Grad-CAM explains {self._target[0]}")

    def _explaining(self, trainer: L.Trainer) -> bool:
        return (self._target is not None and trainer.is_global_zero and not trainer.sanity_checking
                and not trainer.fast_dev_run)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._explaining(trainer):
            return
        if trainer.state.fn == TrainerFn.VALIDATING:
            self._write(trainer, pl_module, "val", self.run_dir / "gradcam")
        elif self.every_epoch:
            self._write(trainer, pl_module, "val",
                        self.run_dir / "epochs" / f"epoch_{trainer.current_epoch:03d}" / "gradcam")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._explaining(trainer):
            self._write(trainer, pl_module, "test", self.run_dir / "gradcam")

    def _write(self, trainer: L.Trainer, pl_module: L.LightningModule, split: str, folder: Path) -> None:
        from litcls.report.figures import plot_gradcam

        loaders = trainer.test_dataloaders if split == "test" else trainer.val_dataloaders
        loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
        dataset = loader.dataset  # the whole split, not the per-process share a distributed sampler hands out
        probabilities, labels = _predict(pl_module, dataset, loader.batch_size or 64)
        chosen = select_examples(labels, probabilities, self.per_class, self.mistakes)
        if not chosen:
            return
        param = next(pl_module.parameters())
        images = torch.stack([dataset[index][0] for _, index in chosen]).to(param.device, param.dtype)
        predicted = probabilities.argmax(axis=1)
        heatmaps = gradcam_heatmaps(pl_module, self._target[1], images, [predicted[i] for _, i in chosen])
        pre = pl_module.preprocessing
        shown = to_display(images, pre.mean, pre.std)
        overlays = overlay(shown, heatmaps)
        names = pl_module.class_names
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):  # a re-run of the evaluation replaces the gallery, never mixes two
            old.unlink()
        for (stem, index), image, cam in zip(chosen, shown, overlays, strict=True):
            pixels = plot_gradcam(image, cam, names[labels[index]], names[predicted[index]],
                                  float(probabilities[index, predicted[index]]), folder / f"{stem}.png")
            log_image(trainer.loggers, f"{split}/gradcam/{stem}", pixels, trainer.global_step)


def _predict(module: L.LightningModule, dataset: Dataset, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and labels of every image of ``dataset``, each exactly once, in dataset order."""
    param = next(module.parameters())
    probabilities, labels = [], []
    with preserved_state(module), torch.no_grad():
        module.eval()
        for images, targets in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            logits = module(images.to(param.device, param.dtype))
            probabilities.append(torch.softmax(logits.float(), dim=1).cpu())
            labels.append(torch.as_tensor(targets))
    return torch.cat(probabilities).numpy(), torch.cat(labels).numpy()
