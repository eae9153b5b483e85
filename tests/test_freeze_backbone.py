"""Freezing really freezes: a real Trainer, real images, the registry's head."""

import lightning as L
import pytest
import torch
from torch import nn

from litcls.callbacks.freeze_backbone import BackboneFreeze
from litcls.data.datamodule import FolderDataModule
from litcls.data.scan import scan_folder
from litcls.data.splits import split_samples
from litcls.data.transforms import Preprocessing
from litcls.errors import UserError
from litcls.models.module import ClassifierModule


class Recorder(L.Callback):
    """Per epoch: the model's tensors at its end, batch-norm modes and learning rates during it."""

    def __init__(self):
        self.states, self.bn_training, self.lrs, self.base_lrs = [], [], [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 0:
            self.bn_training.append({m.training for m in pl_module.modules() if isinstance(m, nn.BatchNorm2d)})
            self.lrs.append([group["lr"] for group in trainer.optimizers[0].param_groups])
            self.base_lrs.append(list(trainer.lr_scheduler_configs[0].scheduler.base_lrs))

    def on_train_epoch_end(self, trainer, pl_module):
        self.states.append({key: value.clone() for key, value in pl_module.model.state_dict().items()})


def fit(image_folder, model: str, epochs: int, freeze: BackboneFreeze, **module_args):
    scan = scan_folder(image_folder)
    samples = split_samples(scan, 0.25, 0.25, seed=0)
    pre = Preprocessing(16)
    module = ClassifierModule(model=model, class_names=scan.classes, preprocessing=pre.to_dict(), **module_args)
    initial = {key: value.clone() for key, value in module.model.state_dict().items()}
    recorder = Recorder()
    trainer = L.Trainer(max_epochs=epochs, callbacks=[freeze, recorder], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(module, datamodule=FolderDataModule(scan.root, samples, scan.classes, pre, batch_size=4))
    return initial, recorder


def changed(before: dict, after: dict, keys) -> dict[str, bool]:
    return {key: not torch.equal(before[key], after[key]) for key in keys}


def test_frozen_backbone_and_its_batch_norm_statistics_stay_until_the_unfreeze_epoch(image_folder):
    torch.manual_seed(0)
    initial, recorder = fit(image_folder, "resnet20", epochs=4, freeze=BackboneFreeze(unfreeze_at_epoch=2),
                            lr=1e-2, scheduler="cosine", max_epochs=4)
    head = {"fc.weight", "fc.bias"}
    backbone = set(initial) - head
    assert any("running_mean" in key for key in backbone)
    for epoch in (0, 1):  # frozen: nothing in the backbone moves, not even batch-norm statistics
        assert not any(changed(initial, recorder.states[epoch], backbone).values())
        assert all(changed(initial, recorder.states[epoch], head).values())
        assert recorder.bn_training[epoch] == {False}
    unfrozen = changed(recorder.states[1], recorder.states[2], backbone)
    assert unfrozen["conv1.weight"] and unfrozen["layer3.2.bn2.running_var"]
    assert recorder.bn_training[2] == {True}
    # the backbone joins the optimizer at a tenth of the head's learning rate and follows the same schedule
    assert [len(lrs) for lrs in recorder.lrs] == [1, 1, 2, 2]
    for head_lr, backbone_lr in recorder.lrs[2:]:
        assert backbone_lr == pytest.approx(0.1 * head_lr)
    assert recorder.lrs[3][0] < recorder.lrs[2][0] < recorder.lrs[0][0]
    assert recorder.base_lrs[3] == pytest.approx([1e-2, 1e-3])  # the schedule's record of both groups


def test_a_backbone_frozen_for_good_never_moves(image_folder):
    torch.manual_seed(0)
    initial, recorder = fit(image_folder, "mobilenet_v3_small", epochs=2, freeze=BackboneFreeze())
    backbone = {key for key in initial if not key.startswith("classifier.3.")}
    assert not any(changed(initial, recorder.states[-1], backbone).values())
    assert recorder.bn_training == [{False}, {False}]


def test_a_model_that_is_all_head_has_nothing_to_freeze(image_folder):
    with pytest.raises(UserError, match="model 'linear' has no trainable layer besides its head 'net.1'"):
        fit(image_folder, "linear", epochs=1, freeze=BackboneFreeze())


@pytest.mark.parametrize("kwargs, message", [
    ({"unfreeze_at_epoch": 0}, "unfreeze_at_epoch must be 1 or more"),
    ({"backbone_lr_ratio": 2.0}, r"backbone_lr_ratio must be in \(0, 1\]"),
])
def test_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BackboneFreeze(**kwargs)
