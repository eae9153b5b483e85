"""Starting weights: torchvision's cache (staged in a temporary TORCH_HOME), local files, their preprocessing."""

import lightning as L
import pytest
import torch
import torchvision

from litcls.data.datamodule import FolderDataModule
from litcls.data.scan import scan_folder
from litcls.data.splits import split_samples
from litcls.data.transforms import IMAGENET_MEAN, Preprocessing
from litcls.errors import UserError
from litcls.models import get_model_spec
from litcls.models.module import ClassifierModule
from litcls.models.pretrained import load_starting_weights, run_preprocessing, starting_weights
from litcls.models.torchvision_weights import cached_weights_path


def stage_torchvision_weights(name: str) -> dict[str, torch.Tensor]:
    """Write a random ImageNet-shaped state dict where torchvision's cache expects ``name``'s weights."""
    torch.manual_seed(1)
    state_dict = getattr(torchvision.models, name)().state_dict()
    path = cached_weights_path(get_model_spec(name).pretrained.weights)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state_dict, path)
    return state_dict


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home"


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "mobilenet_v3_small"])
def test_staged_pretrained_weights_are_loaded_except_the_new_head(name, torch_home):
    staged = stage_torchvision_weights(name)
    cached = cached_weights_path(get_model_spec(name).pretrained.weights)
    assert cached.is_relative_to(torch_home / "hub" / "checkpoints")
    spec = get_model_spec(name)
    model = spec.build(num_classes=3)
    head = spec.head_name(model)
    start = starting_weights(name, pretrained=True, weights=None)
    message = load_starting_weights(model, start, head, ["a", "b", "c"])
    assert f"head '{head}' initialised for 3 classes" in message
    for key, value in model.state_dict().items():
        if key.startswith(head + "."):
            assert value.shape[0] == 3 and staged[key].shape[0] == 1000
        else:
            assert torch.equal(value, staged[key]), key


def test_pretrained_weights_bring_their_own_preprocessing_unless_the_size_is_given(torch_home):
    stage_torchvision_weights("mobilenet_v3_small")
    spec = get_model_spec("mobilenet_v3_small")
    start = starting_weights("mobilenet_v3_small", pretrained=True, weights=None)
    transforms = spec.pretrained.weights.transforms()
    assert run_preprocessing(None, spec, start) == Preprocessing(224, tuple(transforms.mean), tuple(transforms.std))
    assert run_preprocessing(96, spec, start) == Preprocessing(96, tuple(transforms.mean), tuple(transforms.std))
    assert run_preprocessing(None, spec, None) == Preprocessing(224)
    assert run_preprocessing(None, get_model_spec("resnet20"), None).img_size == (32, 32)


def test_an_unreadable_cached_file_says_to_delete_it(torch_home):
    path = cached_weights_path(get_model_spec("resnet18").pretrained.weights)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a download")
    with pytest.raises(UserError, match=f"--pretrained: {path} could not be read .*delete it"):
        starting_weights("resnet18", pretrained=True, weights=None)


def test_a_model_without_pretrained_weights_lists_those_with(torch_home):
    with pytest.raises(UserError, match="model 'resnet20' has no pretrained weights; models that have: .*resnet18"):
        starting_weights("resnet20", pretrained=True, weights=None)


def test_a_plain_state_dict_loads_completely(tmp_path):
    source = get_model_spec("resnet20").build(num_classes=3)
    torch.save(source.state_dict(), tmp_path / "resnet20.pth")
    model = get_model_spec("resnet20").build(num_classes=3)
    message = load_starting_weights(model, starting_weights("resnet20", False, str(tmp_path / "resnet20.pth")),
                                    "fc", ["x", "y", "z"])
    assert "head loaded" in message
    for key, value in model.state_dict().items():
        assert torch.equal(value, source.state_dict()[key]), key


def test_a_state_dict_of_another_architecture_is_refused_with_the_differences(tmp_path):
    torch.save(get_model_spec("resnet20").build(num_classes=3).state_dict(), tmp_path / "resnet20.pth")
    model = get_model_spec("resnet32").build(num_classes=3)
    start = starting_weights("resnet32", False, str(tmp_path / "resnet20.pth"))
    with pytest.raises(UserError, match=r"--weights: .*resnet20.pth does not fit .*: tensors 60 missing \(layer1.3"):
        load_starting_weights(model, start, "fc", ["x", "y", "z"])


def test_a_file_that_is_not_a_state_dict_is_explained(tmp_path):
    (tmp_path / "notes.pth").write_text("not tensors")
    with pytest.raises(UserError, match="notes.pth is not a state dict or a litcls checkpoint"):
        starting_weights("cnn", False, str(tmp_path / "notes.pth"))
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(UserError, match="list.pth holds no state dict"):
        starting_weights("cnn", False, str(tmp_path / "list.pth"))


@pytest.fixture
def trained_checkpoint(image_folder, tmp_path):
    """A real Lightning checkpoint of a cnn trained for one step on 16 px images of three classes."""
    scan = scan_folder(image_folder)
    samples = split_samples(scan, 0.25, 0.25, seed=0)
    module = ClassifierModule(model="cnn", class_names=scan.classes, preprocessing=Preprocessing(16).to_dict())
    datamodule = FolderDataModule(scan.root, samples, scan.classes, Preprocessing(16), batch_size=8)
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", num_sanity_val_steps=0)
    trainer.fit(module, datamodule=datamodule)
    trainer.save_checkpoint(tmp_path / "cnn.ckpt")
    return tmp_path / "cnn.ckpt", module


def test_a_litcls_checkpoint_brings_its_weights_classes_and_preprocessing(trained_checkpoint):
    path, trained = trained_checkpoint
    start = starting_weights("cnn", False, str(path))
    assert start.class_names == ["circle", "square", "triangle"]
    assert run_preprocessing(None, get_model_spec("cnn"), start) == Preprocessing(16, IMAGENET_MEAN)

    same_classes = get_model_spec("cnn").build(num_classes=3)
    assert "head loaded" in load_starting_weights(same_classes, start, "classifier.2", start.class_names)
    for key, value in same_classes.state_dict().items():
        assert torch.equal(value, trained.model.state_dict()[key]), key

    other_classes = get_model_spec("cnn").build(num_classes=3)
    message = load_starting_weights(other_classes, start, "classifier.2", ["cat", "dog", "fox"])
    assert "head 'classifier.2' initialised for 3 classes" in message
    assert not torch.equal(other_classes.classifier[2].weight, trained.model.classifier[2].weight)
    assert torch.equal(other_classes.features[0][0].weight, trained.model.features[0][0].weight)


def test_a_checkpoint_of_another_model_names_the_right_flag(trained_checkpoint):
    with pytest.raises(UserError, match="is a checkpoint of model 'cnn', not 'resnet20'; pass --model cnn"):
        starting_weights("resnet20", False, str(trained_checkpoint[0]))
