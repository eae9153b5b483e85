"""The registry's contract for every model: where its head is, what the backbone is, the paper's sizes."""

import pytest
import torch

from litcls.callbacks.freeze_backbone import backbone_modules
from litcls.models import get_model_spec, list_models

MODEL_NAMES = [spec.name for spec in list_models()]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_registered_head_outputs_the_class_scores(name):
    spec = get_model_spec(name)
    model = spec.build(num_classes=7, img_size=32).eval()
    seen = []
    model.get_submodule(spec.head_name(model)).register_forward_hook(lambda module, args, out: seen.append(out))
    with torch.no_grad():
        scores = model(torch.randn(2, 3, 32, 32))
    assert len(seen) == 1 and torch.equal(seen[0], scores)


@pytest.mark.parametrize("name", [name for name in MODEL_NAMES if name != "linear"])
def test_backbone_and_head_share_no_parameter_and_cover_the_model(name):
    spec = get_model_spec(name)
    model = spec.build(num_classes=3)
    head = model.get_submodule(spec.head_name(model))
    backbone = {id(p) for module in backbone_modules(model, spec.head_name(model))
                for p in module.parameters(recurse=False)}
    head_params = {id(p) for p in head.parameters()}
    assert backbone and not backbone & head_params
    assert backbone | head_params == {id(p) for p in model.parameters()}


@pytest.mark.parametrize("name, millions", [("resnet20", 0.27), ("resnet32", 0.46), ("resnet56", 0.85)])
def test_cifar_resnets_have_the_papers_parameter_counts(name, millions):
    # He et al. 2016, table 6: option-A shortcuts add no parameters
    assert round(get_model_spec(name).num_parameters(num_classes=10) / 1e6, 2) == millions


def test_cifar_resnet_halves_the_resolution_twice_and_widens_to_64_channels():
    model = get_model_spec("resnet20").build(num_classes=10).eval()
    shapes = []
    for layer in (model.layer1, model.layer2, model.layer3):
        layer.register_forward_hook(lambda module, args, out: shapes.append(tuple(out.shape)))
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
    assert shapes == [(2, 16, 32, 32), (2, 32, 16, 16), (2, 64, 8, 8)]


def test_parameter_count_does_not_depend_on_building_for_real():
    spec = get_model_spec("mobilenet_v3_small")
    assert spec.num_parameters(num_classes=4) == sum(p.numel() for p in spec.build(4).parameters())


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "mobilenet_v3_large"])
def test_mobilenet_v3_batch_norm_statistics_keep_up_with_small_datasets(name):
    # torchvision's momentum 0.01 left evaluation constant after 6 epochs on the digits; eps stays the weights' own
    model = get_model_spec(name).build(num_classes=3)
    norms = {(m.momentum, m.eps) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert norms == {(0.1, 0.001)}
