import ast

import pytest
import torch

from litcls import model_names
from litcls.data.transforms import Preprocessing
from litcls.errors import UserError
from litcls.model_names import is_registered_name, registered_in_source
from litcls.models import build_model, list_models, register_model, registry
from litcls.models.module import ClassifierModule

MODEL_NAMES = [spec.name for spec in list_models()]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_registered_model_gives_one_score_per_class(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=5, img_size=32).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 5)
    assert torch.isfinite(out).all()


def test_duplicate_model_name_is_refused():
    with pytest.raises(ValueError, match="'cnn' is already registered"):
        register_model("cnn", input_size=32)(lambda num_classes, img_size: None)


def test_unknown_model_lists_valid_names():
    with pytest.raises(UserError, match="unknown model 'vgg99'; valid models: .*cnn"):
        build_model("vgg99", num_classes=2)


def test_the_names_read_from_source_are_the_registry_in_its_order():
    """train.py refuses a plain --model from these names before it imports the registry; they must be its names."""
    built_in = [name for name, spec in registry._REGISTRY.items()
                if spec.builder.__module__.startswith("litcls.models.")]
    assert registered_in_source() == built_in


def test_a_name_not_written_out_leaves_the_refusal_to_the_registry():
    written = ast.parse("@register_model(input_size=32)\ndef cnn2(): ...\n@register_model('big', input_size=224)\n"
                        "def build(): ...\n")
    assert model_names._registered_in(written) == ["cnn2", "big"]
    assert model_names._registered_in(ast.parse("for n in NAMES:\n    register_model(n, input_size=32)(f)")) is None


def test_only_plain_names_are_looked_up_in_the_registry():
    assert is_registered_name("resnet81") and is_registered_name("Timm/resnet18")
    assert not is_registered_name("timm/resnet18") and not is_registered_name("my_model:tiny_convnet")


def _module(**kwargs) -> ClassifierModule:
    return ClassifierModule(model="cnn", class_names=["a", "b", "c"],
                            preprocessing=Preprocessing(img_size=16).to_dict(), **kwargs)


def test_training_steps_reduce_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    module = _module(lr=1e-2)
    images, labels = torch.randn(12, 3, 16, 16), torch.arange(12) % 3
    optimizer = module.configure_optimizers()["optimizer"]
    losses = []
    for _ in range(15):
        loss = module.criterion(module(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
@pytest.mark.parametrize("scheduler", ["none", "cosine", "step", "plateau"])
def test_every_optimizer_and_schedule_is_built(optimizer, scheduler):
    config = _module(optimizer=optimizer, scheduler=scheduler).configure_optimizers()
    opt = config if scheduler == "none" else config["optimizer"]
    assert type(opt).__name__.lower() == optimizer


def test_class_names_and_preprocessing_travel_in_the_hyperparameters():
    module = _module()
    assert module.hparams.class_names == ["a", "b", "c"]
    assert Preprocessing.from_dict(module.hparams.preprocessing).img_size == (16, 16)
