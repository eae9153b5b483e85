"""Grad-CAM: the target layer of every model family, overlays, and a model left as it was found."""

import numpy as np
import pytest
import torch
import torchvision

from litcls.callbacks.gradcam_gallery import select_examples
from litcls.data.transforms import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from litcls.errors import UserError
from litcls.models.gradcam import find_target_layer, gradcam_heatmaps, overlay, resolve_target_layer, to_display
from litcls.models.module import ClassifierModule


def _module(name: str = "cnn", size: int = 16) -> ClassifierModule:
    torch.manual_seed(0)
    return ClassifierModule(model=name, class_names=["a", "b", "c"], preprocessing=Preprocessing(size).to_dict())


def _hooks(module: torch.nn.Module) -> int:
    return sum(len(sub._forward_hooks) + len(sub._backward_hooks) for sub in module.modules())


@pytest.mark.parametrize("training", [True, False])
def test_overlay_has_the_image_size_is_not_constant_and_leaves_the_model_as_found(training):
    module = _module(size=16)
    module.train(training)
    module.model.features[0].eval()  # a mixed state must survive too
    module.model.classifier[-1].weight.requires_grad_(False)
    module.model.features[0][0].weight.grad = torch.ones_like(module.model.features[0][0].weight)
    modes = [sub.training for sub in module.modules()]
    flags = [param.requires_grad for param in module.parameters()]
    path, layer = resolve_target_layer(module, None, 16)
    images = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        predicted = module.eval()(images).argmax(dim=1).tolist()  # as the callback does: explain the prediction
    module.train(training)
    module.model.features[0].eval()

    heatmaps = gradcam_heatmaps(module, layer, images, predicted)
    overlays = overlay(to_display(images, IMAGENET_MEAN, IMAGENET_STD), heatmaps)

    assert path == "model.features.7"
    assert heatmaps.shape == (3, 16, 16) and overlays.shape == (3, 16, 16, 3) and overlays.dtype == np.uint8
    for heatmap in heatmaps:
        assert heatmap.max() > heatmap.min()
    assert [sub.training for sub in module.modules()] == modes
    assert [param.requires_grad for param in module.parameters()] == flags
    assert torch.equal(module.model.features[0][0].weight.grad, torch.ones_like(module.model.features[0][0].weight))
    assert all(param.grad is None for name, param in module.named_parameters() if name != "model.features.0.0.weight")
    assert _hooks(module) == 0


def test_heatmaps_work_inside_inference_mode_as_in_lightning_evaluation():
    module = _module().eval()
    _, layer = resolve_target_layer(module, None, 16)
    with torch.inference_mode():
        images = torch.randn(2, 3, 16, 16)
        heatmaps = gradcam_heatmaps(module, layer, images, [1, 2])
    assert heatmaps.shape == (2, 16, 16) and np.isfinite(heatmaps).all()


@pytest.mark.parametrize("name", ["linear", "mlp"])
def test_models_without_convolutions_have_no_target_layer(name):
    assert resolve_target_layer(_module(name), None, 16) is None


@pytest.mark.parametrize("builder, expected", [
    (torchvision.models.resnet18, "layer4"),
    (torchvision.models.mobilenet_v3_small, "features"),
])
def test_target_layer_of_torchvision_families_is_their_last_feature_stage(builder, expected):
    model = builder(weights=None, num_classes=4)
    assert find_target_layer(model, 96) == expected
    heatmaps = gradcam_heatmaps(model, model.get_submodule(expected), torch.randn(1, 3, 96, 96), [2])
    assert heatmaps.shape == (1, 96, 96) and heatmaps.max() > heatmaps.min()
    assert _hooks(model) == 0


def test_layer_override_is_checked_with_a_message_that_lists_valid_layers():
    module = _module()
    assert resolve_target_layer(module, "model.features.4", 16)[0] == "model.features.4"
    with pytest.raises(UserError, match=r"no module 'model.nope'.*model\.features\.7"):
        resolve_target_layer(module, "model.nope", 16)
    with pytest.raises(UserError, match="'model.classifier' does not output one"):
        resolve_target_layer(module, "model.classifier", 16)


def test_examples_are_a_fixed_sample_per_class_plus_the_most_confident_mistakes():
    labels = np.array([0, 0, 0, 1, 1, 2, 0])
    probabilities = np.array([[.9, .1, 0], [.2, .8, 0], [.6, .4, 0], [.3, .7, 0], [.1, .9, 0], [.05, .05, .9],
                              [.4, 0, .6]])
    chosen = select_examples(labels, probabilities, per_class=2, mistakes=5)
    assert chosen == [("class-00-0", 0), ("class-00-1", 6), ("class-01-0", 3), ("class-01-1", 4),
                      ("class-02-0", 5), ("mistake-00", 1), ("mistake-01", 6)]
    assert select_examples(labels, probabilities, per_class=0, mistakes=1) == [("mistake-00", 1)]
