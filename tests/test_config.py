import dataclasses
import inspect
from pathlib import Path

import pytest
import yaml

from litcls.cli.train import parse_config
from litcls.config import DataSettings, RecipeSettings, TrainConfig, load_yaml
from litcls.errors import UserError
from litcls.models.module import ClassifierModule, settings_arguments
from litcls.recipe.losses import loss_parameters


def test_defaults_then_file_then_flags(tmp_path):
    config_file = tmp_path / "exp.yaml"
    config_file.write_text("lr: 0.05\nepochs: 7\nimg-size: 48\n")
    config, _ = parse_config(["--config", str(config_file), "--epochs", "3"])
    assert config.recipe.lr == 0.05  # from the file
    assert config.recipe.max_epochs == 3  # the flag wins over the file
    assert config.data.img_size == 48  # kebab-case keys accepted in files
    assert config.data.batch_size == TrainConfig().data.batch_size  # untouched default


def test_saved_config_is_accepted_back(tmp_path):
    config, _ = parse_config(["--model", "mlp", "--logger", "csv", "tensorboard", "--fast-dev-run"])
    config.save(tmp_path / "config.yaml")
    again, _ = parse_config(["--config", str(tmp_path / "config.yaml")])
    assert again == config


def test_unknown_key_in_file_lists_valid_keys(tmp_path):
    config_file = tmp_path / "exp.yaml"
    config_file.write_text("learning_rate: 0.1\n")
    with pytest.raises(UserError, match="unknown keys: learning_rate; valid keys: .*lr"):
        load_yaml(config_file)


@pytest.mark.parametrize("argv, message", [
    (["--val-size", "1.2"], "--val-size must be in"),
    (["--test-size", "-0.1"], "--test-size must be in"),
    (["--val-size", "0.6", "--test-size", "0.5"], "must leave images for training"),
    (["--augment", "wild"], "--augment: 'wild' is neither a preset"),
    (["--epochs", "0"], "--epochs must be at least 1"),
])
def test_bad_values_name_the_flag(argv, message):
    with pytest.raises(UserError, match=message):
        parse_config(argv)


def test_bad_value_in_file_names_the_key(tmp_path):
    config_file = tmp_path / "exp.yaml"
    config_file.write_text(yaml.safe_dump({"optimizer": "rmsprop"}))
    with pytest.raises(UserError, match="--optimizer: unknown value 'rmsprop'; valid values: sgd, adam, adamw"):
        parse_config(["--config", str(config_file)])
    config_file.write_text("batch_size: many\n")
    with pytest.raises(UserError, match="--batch-size: invalid value 'many'"):
        parse_config(["--config", str(config_file)])


WRITTEN_BEFORE_PARTS = Path(__file__).with_name("config_written_before_parts.yaml")


def test_a_config_yaml_written_before_the_parts_loads_and_is_written_back_flat(tmp_path):
    config, _ = parse_config(["--config", str(WRITTEN_BEFORE_PARTS)])
    assert (config.data.source, config.model.name, config.recipe.max_epochs, config.output.name) == (
        "digits", "cnn", 30, "base")
    assert (config.data.img_size, config.data.batch_size, config.evaluation.monitor) == (32, 64, "val/loss")
    config.save(tmp_path / "config.yaml")
    written = yaml.safe_load((tmp_path / "config.yaml").read_text())
    before = yaml.safe_load(WRITTEN_BEFORE_PARTS.read_text())
    assert {key: written[key] for key in before} == before
    assert {key: value for key, value in written.items() if key not in before} == {  # keys added since: defaults
        key: value for key, value in TrainConfig().to_dict().items() if key not in before}


def test_each_part_checks_its_own_settings():
    with pytest.raises(UserError, match="--warmup-epochs \\(3\\) must be less than --epochs \\(3\\)"):
        RecipeSettings(max_epochs=3, warmup_epochs=3).validate()
    with pytest.raises(UserError, match="--val-size must be greater than 0"):
        DataSettings(val_size=0).validate()
    with pytest.raises(UserError, match="--fold needs --name"):  # a rule between parts: the configuration's
        TrainConfig.of(folds=2, fold=0).validate()


def test_the_module_takes_its_settings_from_the_parts():
    config = TrainConfig.of(epochs=7, lr=0.01, head="mlp", monitor="val/acc", mixup=0.2)
    arguments = settings_arguments(ClassifierModule, config.recipe, config.model, config.evaluation)
    from_the_data = {"model", "class_names", "preprocessing", "class_weights", "curve_thresholds"}
    parameters = inspect.signature(ClassifierModule).parameters
    named = {name for name, parameter in parameters.items() if parameter.kind is not parameter.VAR_KEYWORD}
    assert named == set(arguments) | from_the_data
    # its **loss_parameters are the recipe's fields of the same names (declared beside each loss)
    assert {parameter.name for parameter in loss_parameters()} <= {f.name for f in dataclasses.fields(config.recipe)}
    assert (arguments["max_epochs"], arguments["lr"], arguments["head"], arguments["monitor"], arguments["mixup"]) == (
        7, 0.01, "mlp", "val/acc", 0.2)
