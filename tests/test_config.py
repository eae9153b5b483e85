import pytest
import yaml

from litcls.cli.train import parse_config
from litcls.config import TrainConfig, load_yaml
from litcls.errors import UserError


def test_defaults_then_file_then_flags(tmp_path):
    config_file = tmp_path / "exp.yaml"
    config_file.write_text("lr: 0.05\nepochs: 7\nimg-size: 48\n")
    config, _ = parse_config(["--config", str(config_file), "--epochs", "3"])
    assert config.lr == 0.05  # from the file
    assert config.epochs == 3  # the flag wins over the file
    assert config.img_size == 48  # kebab-case keys accepted in files
    assert config.batch_size == TrainConfig().batch_size  # untouched default


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
