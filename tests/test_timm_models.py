"""timm models by name and their weights from a staged Hugging Face cache; grey first layers; Grad-CAM of every
family (the registry's CNNs, a timm CNN, a ViT, a Swin)."""

import numpy as np
import pytest
import torch

from litcls.data.transforms import Preprocessing
from litcls.errors import UserError
from litcls.models import get_model_spec, list_models
from litcls.models.gradcam import gradcam_heatmaps, resolve_target_layer
from litcls.models.head_only import check_head_is_last
from litcls.models.heads import MLPHead, replace_head
from litcls.models.module import ClassifierModule
from litcls.models.pretrained import load_starting_weights, run_preprocessing, starting_weights
from test_pretrained import stage_torchvision_weights
from timm_cache import stage_timm_weights

CLASSES = ["a", "b", "c"]



@pytest.mark.parametrize("name, size", [("test_convnext", 64), ("test_efficientnet", 64), ("test_vit", 160)])
def test_staged_timm_weights_are_loaded_except_the_new_head_with_their_preprocessing(name, size, hf_home):
    staged = stage_timm_weights(hf_home, name)
    spec = get_model_spec(f"timm/{name}")
    start = starting_weights(spec.name, pretrained=True, weights=None)
    assert str(hf_home / "hub" / f"models--timm--{name}.r160_in1k" / "snapshots") in start.source
    preprocessing = run_preprocessing(size, spec, start)
    expected_mean = (0.5,) * 3 if name != "test_efficientnet" else (0.485, 0.456, 0.406)
    assert preprocessing == Preprocessing(size, expected_mean, preprocessing.std) and preprocessing.std[0] in (.5, .229)
    assert start.record()["interpolation"] == "bicubic" and start.record()["crop_pct"] == 0.95
    model = spec.build(3, size)
    head = spec.head_name(model)
    assert model.get_submodule(head) is model.get_classifier()
    message = load_starting_weights(model, start, head, CLASSES, size)
    assert f"head '{head}' initialised for 3 classes" in message
    for key, value in model.state_dict().items():
        if not key.startswith(head + "."):
            assert torch.equal(value, staged[key]), key


def test_a_grey_model_starts_from_the_sum_over_rgb_of_the_first_layer(hf_home, tmp_path, monkeypatch):
    staged = stage_timm_weights(hf_home, "test_convnext")
    spec = get_model_spec("timm/test_convnext")
    model = spec.build(3, 32, in_chans=1)
    load_starting_weights(model, starting_weights(spec.name, True, None), spec.head_name(model), CLASSES, 32, 1)
    assert torch.allclose(model.stem[0].weight, staged["stem.0.weight"].sum(dim=1, keepdim=True))

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    rgb = stage_torchvision_weights("resnet18")
    resnet = get_model_spec("resnet18").build(3, 32, in_chans=1)
    assert resnet.conv1.in_channels == 1
    load_starting_weights(resnet, starting_weights("resnet18", True, None), "fc", CLASSES, 32, 1)
    assert torch.allclose(resnet.conv1.weight, rgb["conv1.weight"].sum(dim=1, keepdim=True))
    assert resnet(torch.zeros(2, 1, 32, 32)).shape == (2, 3)


def test_a_missing_weight_file_says_where_it_looked_and_how_to_fetch_it(hf_home):
    with pytest.raises(UserError) as raised:
        starting_weights("timm/test_convnext", True, None)
    message = str(raised.value)
    assert "\n" not in message
    assert f"looked for {hf_home / 'hub' / 'models--timm--test_convnext.r160_in1k'}/snapshots/*/model.safetensors" \
        in message
    assert "HF_HUB_OFFLINE is set" in message
    assert "hf download timm/test_convnext.r160_in1k model.safetensors" in message


def test_an_unknown_timm_name_suggests_the_closest_and_a_vit_refuses_a_size_off_its_patches():
    with pytest.raises(UserError, match=r"timm has no model 'convnext_tinyy' \(did you mean convnext_tiny"):
        get_model_spec("timm/convnext_tinyy")
    with pytest.raises(UserError, match=r"--img-size 40: timm/test_vit cuts images into 16x16 px patches.*"
                                        r"use --img-size 32"):
        get_model_spec("timm/test_vit").build(3, 40)


@pytest.mark.parametrize("name", ["timm/test_convnext", "timm/test_vit", "timm/test_efficientnet"])
def test_timm_heads_are_the_seam_for_mlp_heads_and_cached_features(name):
    spec = get_model_spec(name)
    model = spec.build(3, 32)
    head = spec.head_name(model)
    check_head_is_last(model, name, head, (3, 32, 32))
    replace_head(model, name, head, "mlp")
    assert isinstance(model.get_classifier(), MLPHead) and spec.head_name(model) == head
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 3)


def _explained(module, size: int, channels: int = 3) -> tuple[str, np.ndarray]:
    target = resolve_target_layer(module, None, (3, size, size))
    assert target is not None
    torch.manual_seed(0)
    images = torch.randn(2, channels, size, size)
    with torch.no_grad():
        predicted = module(images).argmax(dim=1).tolist()  # as the gallery does: explain the prediction
    heatmaps = gradcam_heatmaps(module, target, images, predicted)
    assert heatmaps.shape == (2, size, size)
    return target.path, heatmaps


@pytest.mark.parametrize("name", [spec.name for spec in list_models() if spec.name not in ("linear", "mlp")])
def test_every_registered_convolutional_family_gets_a_heatmap_that_is_not_flat(name):
    module = ClassifierModule(model=name, class_names=CLASSES, preprocessing=Preprocessing(96).to_dict()).eval()
    _, heatmaps = _explained(module, 96)
    assert all(heatmap.max() > heatmap.min() for heatmap in heatmaps)


@pytest.mark.parametrize("name, expected", [
    ("timm/test_convnext", "model.stages.3"),
    ("timm/test_vit", "model.blocks.5.norm1"),
])
def test_timm_cnn_and_vit_targets_are_their_last_stage_and_last_block_norm(name, expected):
    module = ClassifierModule(model=name, class_names=CLASSES, preprocessing=Preprocessing(64).to_dict()).eval()
    path, heatmaps = _explained(module, 64)
    assert path.startswith(expected)
    assert all(heatmap.max() > heatmap.min() for heatmap in heatmaps)
    override = resolve_target_layer(module, "model.blocks.2" if "vit" in name else "model.stages.2", (3, 64, 64))
    assert override.path.endswith(".2")
    with pytest.raises(UserError, match="--gradcam-layer: no module 'model.nope'"):
        resolve_target_layer(module, "model.nope", (3, 64, 64))


def test_a_hierarchical_transformer_is_explained_at_its_last_stage():
    import timm

    swin = timm.create_model("swin_tiny_patch4_window7_224", img_size=32, window_size=4, embed_dim=16, depths=(1, 1),
                             num_heads=(1, 2), num_classes=3).eval()
    target = resolve_target_layer(swin, None, (3, 32, 32))
    assert target.path == "layers.1.blocks.0.norm1"
    heatmaps = gradcam_heatmaps(swin, target, torch.randn(2, 3, 32, 32), [0, 2])
    assert heatmaps.shape == (2, 32, 32) and all(heatmap.max() > heatmap.min() for heatmap in heatmaps)


def test_list_models_lists_matching_timm_models_with_parameters_and_size(capsys):
    from litcls.cli.train import print_models

    print_models("timm/test_vit*")
    lines = capsys.readouterr().out.splitlines()
    vit = next(line for line in lines if line.startswith("timm/test_vit "))
    model = get_model_spec("timm/test_vit").build(10, 160)
    assert f"{sum(p.numel() for p in model.parameters()):,}" in vit and "160 px" in vit and "r160_in1k" in vit
    with pytest.raises(UserError, match="no timm model matches"):
        print_models("timm/nothing_like_this*")


def test_a_local_safetensors_file_starts_a_timm_model(tmp_path):
    from safetensors.torch import save_file

    spec = get_model_spec("timm/test_efficientnet")
    torch.manual_seed(3)
    saved = spec.build(3, 32).state_dict()
    save_file({key: value.contiguous() for key, value in saved.items()}, tmp_path / "mine.safetensors")
    start = starting_weights(spec.name, False, str(tmp_path / "mine.safetensors"))
    model = spec.build(3, 32)
    assert "head loaded" in load_starting_weights(model, start, spec.head_name(model), CLASSES, 32)
    assert all(torch.equal(value, saved[key]) for key, value in model.state_dict().items())
