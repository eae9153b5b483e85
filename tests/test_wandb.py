"""The real wandb client in offline mode: read back what it wrote. No test mocks wandb away or uses the network."""

import json
import re
import subprocess

import pytest
import wandb

from conftest import run_cli
from litcls.config import TrainConfig
from litcls.runs.dispatch import train
from litcls.runs.new_folder import RUN_DIR_ENV
from litcls.tracking.loggers import wandb_mode
from wandb_records import read_offline_run

TINY = ["--img-size", "16", "--batch-size", "8", "--num-workers", "0", "--val-size", "0.25", "--test-size", "0.25"]


@pytest.fixture
def wandb_env(tmp_path, monkeypatch):
    for key in ("WANDB_MODE", "WANDB_API_KEY", RUN_DIR_ENV):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))


@pytest.mark.slow
def test_offline_run_records_metrics_config_summary_and_model(image_folder, tmp_path, wandb_env):
    result = run_cli("train.py", "--data", str(image_folder), "--epochs", "2", "--name", "wb", "--logger", "csv",
                     "wandb", "--tags", "smoke", *TINY, cwd=tmp_path, env={"WANDB_MODE": "offline"})
    assert result.returncode == 0, result.stderr[-3000:]
    [offline] = (tmp_path / "runs" / "wb" / "wandb").glob("offline-run-*")
    run = read_offline_run(offline)
    logged = {key for row in run.history for key in row}
    assert {"train/loss", "val/loss", "val/acc", "val/f1_macro", "val/f1_micro", "test/acc"} <= logged
    for image in ("test/confusion_matrix", "test/gradcam/class-00-0", "test/roc", "test/pr", "test/reliability"):
        assert f"{image}/_type" in logged, sorted(logged)
    tables = {key.rsplit("/", 1)[0] for row in run.history for key, value in row.items()
              if key.endswith("/_type") and value == "table-file"}
    assert {"test/classification_report", "test/confusion_matrix_chart_table", "test/roc_curve_table",
            "test/pr_curve_table", "test/predictions"} <= tables  # + W&B's charts
    assert run.config["data"] == str(image_folder) and run.config["epochs"] == 2 and run.config["tags"] == ["smoke"]
    results = json.loads((tmp_path / "runs" / "wb" / "results.json").read_text())
    assert run.summary["test/f1_macro"] == pytest.approx(results["test/f1_macro"])
    assert run.summary["val/f1_macro"].keys() == {"max"}  # the best epoch, for sweeps and tables
    assert run.summary["val/ece"].keys() == {"min"}
    assert run.summary["test/auroc"] == pytest.approx(results["test/auroc"])
    assert sum(name.startswith("model-") for name in run.artifacts) == 2  # best and last checkpoints
    assert run.exit_code == 0


def test_a_failing_wandb_init_continues_offline_and_finishes(image_folder, tmp_path, wandb_env, monkeypatch):
    real_init = wandb.init

    def init_with_outage(*args, **kwargs):
        if kwargs.get("mode") == "online":
            raise wandb.errors.CommError("simulated outage: api.wandb.ai unreachable")
        return real_init(*args, **kwargs)

    monkeypatch.setattr(wandb, "init", init_with_outage)
    out_dir = tmp_path / "My Runs" / "형태 images (copy)"  # the upload hint must paste into bash as it is
    config = TrainConfig.of(data=str(image_folder), out_dir=str(out_dir), name="outage", epochs=1,
                            img_size=16, batch_size=8, num_workers=0, val_size=0.25, test_size=0.25,
                            logger=["wandb"], wandb_mode="online")
    with pytest.warns(UserWarning, match="W&B could not start online .*simulated outage.*continuing offline") as caught:
        run_dir = train(config)
    assert (run_dir / "results.json").is_file()
    [offline] = (run_dir / "wandb").glob("offline-run-*")
    assert read_offline_run(offline).exit_code == 0
    assert wandb.run is None  # finished, not left open

    [hint] = [found for warning in caught for found in re.findall(r"upload later with `(wandb sync .*)`",
                                                                    str(warning.message))]
    # bash parses the hint as printed; a stand-in wandb shows the words it would get, the glob expanded
    shown = subprocess.run(["bash", "-c", "wandb() { printf '%s\\n' \"$@\"; }; " + hint], capture_output=True,
                           text=True, check=True).stdout.splitlines()
    assert shown == ["sync", str(offline)]


def test_mode_follows_flag_then_environment_then_login(tmp_path, wandb_env, monkeypatch):
    config = TrainConfig()
    assert wandb_mode(config) == "offline"
    (tmp_path / "netrc").write_text("machine api.wandb.ai login user password " + "k" * 40 + "\n")
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert wandb_mode(config) == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode(config) == "disabled"
    assert wandb_mode(TrainConfig.of(wandb_mode="offline")) == "offline"
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert wandb_mode(config) == "online"
