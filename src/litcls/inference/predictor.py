"""Checkpoint -> model, and images on disk -> the rows of a ``predictions.csv`` and Grad-CAM overlays, with nothing
repeated from training. ``predict.py`` and the demo page both predict through here, with the loop and the table
builder of a training run's evaluation."""

from __future__ import annotations

import logging
import pickle
import unicodedata
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import albumentations as A
import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from torch.utils.data import DataLoader, Dataset

import litcls.quiet  # noqa: F401  (Lightning's messages a user can do nothing about)
from litcls.data.decode import load_image
from litcls.data.scan import is_image
from litcls.data.transforms import Preprocessing, eval_transform
from litcls.devices import lightning_device
from litcls.errors import UserError
from litcls.inference.ensemble_calibration import EnsembleDecision
from litcls.inference.tta import View, policy_views
from litcls.models.module import ClassifierModule
from litcls.runs.finished_folder import resolve_checkpoint
from litcls.suggest import did_you_mean_path

if TYPE_CHECKING:
    from litcls.models.gradcam import Target


def load_checkpoint(path: str | Path, trust: bool = False) -> ClassifierModule:
    """Rebuild the trained module from a checkpoint written by ``train.py`` (or its run folder), in eval mode
    on the CPU.

    The checkpoint is read with ``torch.load(weights_only=True)``, which refuses anything but tensors and
    plain containers, so a checkpoint from a stranger cannot run code. ``trust=True`` lifts that restriction
    for checkpoints you made yourself with other tools.
    """
    path = resolve_checkpoint(path)
    if not zipfile.is_zipfile(path):  # torch.save has written zip archives since torch 1.6
        raise UserError(f"--ckpt: {path} is not a PyTorch checkpoint (not a zip archive)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as err:
        raise UserError(f"--ckpt: {path} holds objects other than tensors ({' '.join(str(err).split())[:200]}); "
                        "load it with --trust-checkpoint only if you trust where it came from") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise UserError(f"--ckpt: {path} is not a readable checkpoint: {' '.join(str(err).split())[:200]}") from None
    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not hparams or "class_names" not in hparams or "state_dict" not in checkpoint:
        raise UserError(f"--ckpt: {path} is not a checkpoint written by train.py (no class names inside)")
    try:
        module = ClassifierModule(**hparams)
        module.load_state_dict(checkpoint["state_dict"])
    except (TypeError, KeyError, ValueError, RuntimeError) as err:  # another project's Lightning checkpoint
        raise UserError(f"--ckpt: {path} does not fit this version of litcls "
                        f"({type(err).__name__}: {' '.join(str(err).split())[:200]})") from None
    module.on_load_checkpoint(checkpoint)  # the temperature and threshold the evaluation stored
    return module.eval()


def find_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Expand folders (recursively, images only, sorted) and keep files as given, in order."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths += sorted(p for p in item.rglob("*") if p.is_file() and is_image(p.name))
        elif item.exists():
            paths.append(item)
        else:
            raise UserError(f"--images: no such file or folder: {item}{did_you_mean_path(item)}")
    if not paths:
        raise UserError(f"--images: no images found in {', '.join(map(str, inputs))}")
    return paths


def model_input(path: Path, transform: A.BaseCompose, pre: Preprocessing) -> torch.Tensor:
    """An image file as the model sees it, (C, H, W): decoded as in training, then the evaluation transform."""
    return transform(image=load_image(path, pre.img_size, pre.in_chans))["image"]


class _PredictionImages(Dataset):
    """Decoded, preprocessed images (seen through ``view``, a test-time augmentation); an unreadable file yields a
    blank tensor and its error message."""

    def __init__(self, paths: Sequence[Path], preprocessing: Preprocessing, view: View | None = None):
        self.paths = list(paths)
        self.transform = eval_transform(preprocessing)
        self.preprocessing = preprocessing
        self.view = view
        self.blank = torch.zeros(preprocessing.input_shape)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        try:
            image = model_input(self.paths[index], self.transform, self.preprocessing)
        except Exception as err:  # any decoder failure becomes an error row, not a crash
            return self.blank, f"{type(err).__name__}: {' '.join(str(err).split())}"
        return (self.view(image) if self.view is not None else image), ""


class _DecodingErrors(L.Callback):
    """The error messages the loader hands over beside the images, in loader order."""

    def __init__(self):
        self.messages: list[str] = []

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.messages += list(batch[1])


def predict_logits(module: ClassifierModule, paths: Sequence[Path], batch_size: int = 32, num_workers: int = 0,
                   device: str = "cpu", view: View | None = None) -> tuple[np.ndarray, list[str]]:
    """(N, C) logits of the image files, in order, and each file's decoding error ('' when it was read).

    The images go through the module's ``predict_step`` in a Lightning predict loop, collected by the
    :class:`~litcls.callbacks.predictions.PredictionCollector` that gathers the run's validation and test
    predictions: one loop from images to predictions, whether a run evaluates or ``predict.py`` predicts. The
    module is left on the device it ran on.

    Args:
        view: predict the images seen through it (a test-time augmentation of :mod:`litcls.inference.tta`).
        device: see :func:`litcls.devices.lightning_device`.
    """
    from litcls.callbacks.predictions import PredictionCollector

    accelerator, devices = lightning_device(device)
    collector, errors = PredictionCollector(), _DecodingErrors()
    quiet = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # "GPU available: ..." at every call would drown predict.py's own lines
    try:
        trainer = L.Trainer(accelerator=accelerator, devices=devices, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, callbacks=[collector, errors])
    except (MisconfigurationException, ValueError, RuntimeError) as err:
        raise UserError(f"--device {device}: {' '.join(str(err).split())}") from None
    try:
        loader = DataLoader(_PredictionImages(paths, module.preprocessing, view), batch_size=batch_size,
                            num_workers=num_workers)
        trainer.predict(module, loader, return_predictions=False)
    finally:
        quiet.setLevel(level)
    module.to(trainer.strategy.root_device).eval()  # Lightning's teardown moved it to the CPU
    return collector.logits["predict"], errors.messages


def decision_rule(module: ClassifierModule, calibrated: bool = True) -> tuple[float, tuple[int, float] | None]:
    """What the checkpoint's evaluation decided: the temperature to divide the logits by (1 without
    ``calibrated``), and for a two-class model (positive label, threshold on the reported probability)."""
    from litcls.tasks.base import operating_thresholds

    decision = module.decision
    temperature = float(decision.get("temperature", 1.0)) if calibrated else 1.0
    thresholds = operating_thresholds(decision, module.class_names, calibrated)
    if not thresholds:
        return temperature, None
    ((positive, threshold),) = thresholds.items()  # two classes: the one-label case of per-label thresholds
    return temperature, (positive, threshold)


def label_decision(module: ClassifierModule, calibrated: bool = True) -> tuple[np.ndarray, list[float]]:
    """Multi-label: each label's temperature (1 without ``calibrated`` or a stored calibration) and its threshold on
    the reported probability (0.5 where the checkpoint holds none)."""
    from litcls.tasks.base import operating_thresholds, threshold_vector

    names = module.class_names
    stored = module.decision.get("temperatures", {}) if calibrated else {}
    temperatures = np.array([float(stored.get(name, 1.0)) for name in names], dtype=np.float32)
    thresholds = threshold_vector(operating_thresholds(module.decision, names, calibrated), len(names))
    return temperatures, thresholds.tolist()


def predict_labels(module: ClassifierModule, paths: Sequence[Path], batch_size: int = 32, tta: bool | str = False,
                   num_workers: int = 0, device: str = "cpu", calibrated: bool = True) -> pd.DataFrame:
    """A multi-label checkpoint's rows: ``path``, ``prob_<label>`` (calibrated per label unless ``calibrated`` is
    False; ``tta`` averages them over the policy's views), ``pred_<label>`` (1 where the probability reaches the
    label's threshold chosen on the validation split) and ``error``, as the run's ``predictions.csv`` without the
    truth."""
    from litcls.evaluation.multilabel import prediction_table

    temperatures, thresholds = label_decision(module, calibrated)
    views, errors = [], []
    for view in policy_views(tta, module.preprocessing.img_size):
        logits, errors = predict_logits(module, paths, batch_size, num_workers, device, view=view)
        views.append(module.task.probabilities(logits, temperatures))
    read = np.array([not error for error in errors], dtype=bool)
    rows = pd.DataFrame({"path": [str(path) for path in paths]})
    table = prediction_table(rows[read], np.mean(views, axis=0)[read], module.class_names, thresholds, None)
    table.index = rows.index[read]
    table = table.reindex(rows.index)
    table["path"] = rows["path"]
    table["error"] = errors
    return table


def folder_labels(paths: Sequence[Path], class_names: Sequence[str]) -> tuple[np.ndarray | None, int]:
    """The label of every image from the name of its folder, when each sits in a folder named after one of the
    checkpoint's classes (a class folder, as train.py reads them); else None.

    Returns:
        The labels (or None), and how many images sit in a class-named folder.
    """
    index = {unicodedata.normalize("NFC", name): label for label, name in enumerate(class_names)}
    labels = [index.get(unicodedata.normalize("NFC", Path(path).parent.name)) for path in paths]
    found = sum(label is not None for label in labels)
    return (np.array(labels, dtype=np.int64) if found == len(labels) else None), found


def decided_column(table: pd.DataFrame | pd.Series) -> str:
    """The column of a :func:`predict_images` table (or field of its row) holding the checkpoint's decision:
    ``predicted_at_threshold`` for a two-class checkpoint with an operating threshold, else ``predicted``."""
    return "predicted_at_threshold" if "predicted_at_threshold" in table else "predicted"


def predict_images(module: ClassifierModule | Sequence[ClassifierModule], paths: Sequence[Path],
                   batch_size: int = 32, top_k: int = 3, tta: bool | str = False, num_workers: int = 0,
                   device: str = "cpu", calibrated: bool = True,
                   labels: Sequence[int] | None = None, ensemble: EnsembleDecision | None = None) -> pd.DataFrame:
    """One row per path, with the columns of the run's ``predictions.csv``
    (:func:`litcls.evaluation.predictions.prediction_table`): ``path``, [``label``, ``class``,] ``predicted``,
    ``probability``, ``prob_<class>`` per class, [``loss``, ``correct``,] then ``predicted_at_threshold`` for a
    two-class checkpoint with an operating threshold, ``top{i}_class``/``top{i}_probability`` for i = 1..k, and
    ``error`` (empty unless the file could not be read; its prediction columns are then empty).

    Probabilities are calibrated with the checkpoint's temperature unless ``calibrated`` is False; ``tta`` (a
    policy of :mod:`litcls.inference.tta`; True means ``flip``) averages them over views of each image.
    ``predicted_at_threshold`` holds the positive class where its probability reaches the threshold chosen on the
    validation split, as in the run's table.

    Several modules (an ensemble of the same classes, see :mod:`litcls.inference.ensemble`) average their own
    probabilities (and their views') with equal weights; ``ensemble`` then gives the temperature that divides the
    log of that mean and the two-class threshold (:mod:`litcls.inference.ensemble_calibration`; default: the plain
    mean, no threshold, whatever ``calibrated`` says).

    Args:
        labels: the images' true labels (see :func:`folder_labels`): adds ``label``, ``class``, ``loss``, ``correct``.
    """
    from litcls.evaluation.ensemble_calibration import ensemble_logits
    from litcls.evaluation.predictions import prediction_table, probabilities_of
    from litcls.evaluation.threshold import called_at_threshold

    members = [module] if isinstance(module, ClassifierModule) else list(module)
    if members[0].task.multi_hot:
        if len(members) > 1:
            raise UserError("--ckpt: an ensemble of multi-label checkpoints is not supported yet; give one")
        return predict_labels(members[0], paths, batch_size, tta, num_workers, device, calibrated)
    classes = members[0].class_names
    views, errors = [], []
    for member in members:
        for view in policy_views(tta, member.preprocessing.img_size):
            logits, errors = predict_logits(member, paths, batch_size, num_workers, device, view=view)
            views.append(logits)
    if len(members) == 1:
        temperature, operating = decision_rule(members[0], calibrated)
    else:  # the members' (and views') own probabilities averaged, then the ensemble's decision
        ensemble = ensemble or EnsembleDecision()
        temperature, operating = ensemble.temperature, ensemble.operating
        mean = members[0].task.probabilities(torch.from_numpy(np.stack(views))).mean(dim=0).numpy()
        views = [ensemble_logits(mean).astype(np.float32)]
    read = np.array([not error for error in errors], dtype=bool)
    rows = pd.DataFrame({"path": [str(path) for path in paths]})
    if labels is not None:
        rows["label"] = np.asarray(labels, dtype=np.int64)
    table = prediction_table(rows[read], np.stack(views)[:, read], classes, temperature)
    probabilities = probabilities_of(table, classes)
    if operating is not None:
        positive, threshold = operating
        table["predicted_at_threshold"] = called_at_threshold(probabilities[:, positive], threshold, classes,
                                                              positive)
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :max(1, min(top_k, len(classes)))]
    for rank in range(order.shape[1]):
        table[f"top{rank + 1}_class"] = [classes[index] for index in order[:, rank]]
        table[f"top{rank + 1}_probability"] = probabilities[np.arange(len(order)), order[:, rank]]
    table.index = rows.index[read]
    table = table.reindex(rows.index)
    for column in ("path", "label"):  # known for unreadable files too
        if column in rows:
            table[column] = rows[column]
    if labels is not None:
        table["class"] = [classes[label] for label in rows["label"]]
    text = [column for column in table if column in ("predicted", "predicted_at_threshold")
            or (column.startswith("top") and column.endswith("_class"))]
    table[text] = table[text].fillna("")
    table["error"] = errors
    return table


def gradcam_target(module: ClassifierModule, layer: str | None = None) -> Target | None:
    """The layer Grad-CAM explains: ``layer`` (a path such as ``model.features.7``) or the automatic choice,
    None for a model without convolutions or patches.

    Raises:
        UserError: ``layer`` is not one Grad-CAM can use.
    """
    from litcls.models.gradcam import resolve_target_layer

    return resolve_target_layer(module, layer, module.preprocessing.input_shape)


def gradcam_overlays(module: ClassifierModule, target: Target, paths: Sequence[str | Path],
                     classes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM of class ``classes[i]`` for the image file ``paths[i]``, preprocessed as :func:`predict_images` does.

    Returns:
        The images as the model sees them, (N, H, W, 3) float in [0, 1] (grey repeated to RGB), and their overlays,
        (N, H, W, 3) uint8.
    """
    from litcls.models.gradcam import gradcam_heatmaps, overlay, to_display

    pre = module.preprocessing
    transform = eval_transform(pre)
    param = next(module.parameters())
    images = torch.stack([model_input(Path(p), transform, pre) for p in paths]).to(param.device)
    heatmaps = gradcam_heatmaps(module, target, images, classes)
    shown = to_display(images, pre.mean, pre.std)
    return shown, overlay(shown, heatmaps)


def write_gradcam(module: ClassifierModule, table: pd.DataFrame, out_dir: Path, layer: str | None = None,
                  batch_size: int = 16) -> pd.Series:
    """Grad-CAM overlay of the predicted class (the checkpoint's decision) for every readable image of ``table``
    (:func:`predict_images`), under ``out_dir``; titled with the true class when the table has it.

    Returns the overlay path of each row ('' for unreadable images), to add to the predictions table. Multi-label:
    :func:`write_label_gradcam`.

    Raises:
        UserError: the model has no convolutional layer, or ``layer`` is not one Grad-CAM can use.
    """
    from litcls.report.figures import plot_gradcam
    from litcls.report.fonts import drawable_labels

    target = gradcam_target(module, layer)
    if target is None:
        raise UserError(f"--gradcam: model {module.hparams.model!r} has no convolutional layer to explain")
    if module.task.multi_hot:
        return write_label_gradcam(module, target, table, out_dir, batch_size)
    index = {name: i for i, name in enumerate(module.class_names)}
    titles = drawable_labels(module.class_names)  # once for every class: labels by class index
    decided = decided_column(table)
    written = pd.Series("", index=table.index, dtype=object)
    readable = table.index[table["error"] == ""]
    for start in range(0, len(readable), batch_size):
        rows = table.loc[readable[start:start + batch_size]]
        shown, cams = gradcam_overlays(module, target, list(rows["path"]), [index[n] for n in rows[decided]])
        for (row_id, row), image, cam in zip(rows.iterrows(), shown, cams, strict=True):
            path = out_dir / f"{row_id:05d}_{Path(row['path']).stem}.png"
            true = int(row["label"]) if pd.notna(row.get("label")) else None
            plot_gradcam(image, cam, true, index[row[decided]], row[f"prob_{row[decided]}"], titles, path)
            written[row_id] = str(path)
    return written


def write_label_gradcam(module: ClassifierModule, target: Target, table: pd.DataFrame, out_dir: Path,
                        batch_size: int = 16) -> pd.Series:
    """Multi-label :func:`write_gradcam`: an overlay per label each readable image is called positive for
    (``pred_<label>``; the most probable label when none is), ``<row>_<stem>_cam-<label index>.png``, titled with
    the called labels; returns each row's overlay paths joined by ``;``."""
    from litcls.report.figures import plot_gradcam
    from litcls.report.fonts import drawable_labels

    names = module.class_names
    titles = drawable_labels(names)
    pairs = []  # (row id, label index) of every overlay
    for row_id, row in table[table["error"] == ""].iterrows():
        called = [k for k, name in enumerate(names) if int(row[f"pred_{name}"]) == 1]
        pairs += [(row_id, k) for k in called or [int(np.argmax([row[f"prob_{name}"] for name in names]))]]
    written = pd.Series("", index=table.index, dtype=object)
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start:start + batch_size]
        shown, cams = gradcam_overlays(module, target, [table.loc[row_id, "path"] for row_id, _ in batch],
                                       [label for _, label in batch])
        for (row_id, label), image, cam in zip(batch, shown, cams, strict=True):
            row = table.loc[row_id]
            called = "|".join(titles[0][k] for k, name in enumerate(names) if int(row[f"pred_{name}"]) == 1)
            path = out_dir / f"{row_id:05d}_{Path(row['path']).stem}_cam-{label:02d}.png"
            probability = float(row[f"prob_{names[label]}"])
            plot_gradcam(image, cam, None, label, probability, titles, path,
                         f"called: {called or 'none'}\nGrad-CAM of {titles[0][label]} ({probability:.2f})")
            written[row_id] = ";".join(filter(None, [written[row_id], str(path)]))
    return written
