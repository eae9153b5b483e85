"""Interrupted runs: signals save a checkpoint, --resume continues the same run to its planned last epoch."""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

import lightning as L
import pandas as pd
import pytest
import torch
import yaml

import litcls.runs.trainer
from conftest import REPO, make_class_folder, run_main
from litcls.cli.train import main
from litcls.tracking.csv_logger import RunCSVLogger

SMALL = ["--model", "mlp", "--img-size", "8", "--batch-size", "4", "--num-workers", "0", "--val-size", "0.25",
         "--test-size", "0.25", "--augment", "none", "--logger", "csv"]


class SendSignal(L.Callback):
    """Send a signal to this very process at a chosen batch, as a scheduler or Ctrl+C would."""

    def __init__(self, signum: int, epoch: int, batch: int, stage: str = "train"):
        self.signum, self.epoch, self.batch, self.stage = signum, epoch, batch, stage

    def _maybe_send(self, trainer, batch_idx, stage):
        if stage == self.stage and trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), self.signum)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._maybe_send(trainer, batch_idx, "train")

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if not trainer.sanity_checking:
            self._maybe_send(trainer, batch_idx, "val")


@pytest.fixture
def data(tmp_path):
    return make_class_folder(tmp_path / "data", {"a": 12, "b": 12, "c": 12}, size=8)


@pytest.fixture
def interrupt(monkeypatch):
    """``interrupt(signal_callback)``: the next runs of the CLI get this callback."""
    def install(callback):
        original = litcls.runs.trainer.build_callbacks
        monkeypatch.setattr(litcls.runs.trainer, "build_callbacks", lambda *args: [*original(*args), callback])
    return install


def weights(run):
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def test_sigterm_mid_epoch_resumes_to_the_same_model_as_an_uninterrupted_run(data, tmp_path, monkeypatch,
                                                                           interrupt, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["--data", str(data), "--epochs", "4", *SMALL]
    assert main([*args, "--name", "whole"]) == 0

    interrupt(SendSignal(signal.SIGTERM, epoch=2, batch=1))
    assert main([*args, "--name", "cut"]) == 128 + signal.SIGTERM
    message = capsys.readouterr().err
    # counted from 1 as the epoch lines count: "epoch 2/4" was the last line; 18 images: 4 batches of 4, one of 2
    assert "stopped by SIGTERM in epoch 3 after batch 2 of 5" in message
    assert "Continue with: python train.py --resume runs/cut" in message
    cut = tmp_path / "runs" / "cut"
    assert not (cut / "results.json").exists()
    assert list(pd.read_csv(cut / "metrics.csv")["epoch"]) == [0, 1]

    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    started = time.perf_counter()
    assert main(["--resume", "runs/cut"]) == 0
    seconds = time.perf_counter() - started
    lines = re.findall(r"^epoch (\d)/4 .*  ([\d.]+) s  (\d+) img/s$", capsys.readouterr().out, re.MULTILINE)
    # the resumed epoch's clock starts at its first batch: not the machine's uptime, not 0 images per second
    assert [epoch for epoch, _, _ in lines] == ["3", "4"]
    assert all(float(taken) < seconds and int(rate) > 0 for _, taken, rate in lines), lines
    whole = tmp_path / "runs" / "whole"
    for name, tensor in weights(whole).items():
        assert torch.equal(tensor, weights(cut)[name]), name  # same batches, optimizer steps and dropout
    expected, resumed = pd.read_csv(whole / "metrics.csv"), pd.read_csv(cut / "metrics.csv")
    assert list(resumed["epoch"]) == [0, 1, 2, 3]
    val = [column for column in expected if column.startswith("val/")]
    pd.testing.assert_frame_equal(resumed[val], expected[val])
    # train/* of the interrupted epoch average the batches run after resuming only
    pd.testing.assert_frame_equal(resumed.drop(index=2), expected.drop(index=2))
    assert resumed.loc[2, "train/lr"] == expected.loc[2, "train/lr"]  # logged although the epoch did not start
    results = json.loads((cut / "results.json").read_text())
    assert results["test/acc"] == json.loads((whole / "results.json").read_text())["test/acc"]

    logged = pd.read_csv(cut / "logs" / "metrics.csv")
    epoch_rows = logged.dropna(subset=["val/loss"])
    assert list(epoch_rows["epoch"]) == [0, 1, 2, 3]  # every epoch once, none restarted
    assert logged.dropna(subset=["train/batch_loss"])["step"].is_unique


def test_a_run_resumed_inside_a_frozen_then_an_unfrozen_epoch_freezes_as_the_uninterrupted_one(data, tmp_path,
                                                                                               monkeypatch, interrupt):
    """Lightning calls no on_train_epoch_start for the epoch a run resumes inside: the backbone stayed frozen for the
    rest of an unfrozen epoch, and its batch-norm layers updated their statistics in a frozen one."""
    monkeypatch.chdir(tmp_path)
    args = ["--data", str(data), "--epochs", "2", *SMALL, "--model", "cnn", "--freeze-backbone",
            "--unfreeze-at-epoch", "1"]
    assert main([*args, "--name", "whole"]) == 0
    interrupt(SendSignal(signal.SIGTERM, epoch=0, batch=1))
    assert main([*args, "--name", "cut"]) == 128 + signal.SIGTERM
    for cut_epoch in (1, None):  # stopped again inside the unfrozen epoch, then to the end
        monkeypatch.undo()
        monkeypatch.chdir(tmp_path)
        if cut_epoch is not None:
            interrupt(SendSignal(signal.SIGTERM, epoch=cut_epoch, batch=1))
        assert main(["--resume", "runs/cut"]) == (0 if cut_epoch is None else 128 + signal.SIGTERM)
    whole, cut = weights(tmp_path / "runs" / "whole"), weights(tmp_path / "runs" / "cut")
    assert any("running_mean" in name for name in whole)
    assert [name for name, tensor in whole.items() if not torch.equal(tensor, cut[name])] == []


def test_ctrl_c_during_validation_lets_it_finish_and_stops_before_the_next_epoch(data, tmp_path, monkeypatch,
                                                                              interrupt, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["--data", str(data), "--epochs", "3", *SMALL]
    assert main([*args, "--name", "whole"]) == 0
    interrupt(SendSignal(signal.SIGINT, epoch=1, batch=0, stage="val"))
    assert main([*args, "--name", "cut"]) == 128 + signal.SIGINT
    assert "stopped by SIGINT before epoch 3; the last checkpoint is runs/cut/checkpoints/last.ckpt" in (
        capsys.readouterr().err)
    cut = tmp_path / "runs" / "cut"
    assert list(pd.read_csv(cut / "metrics.csv")["epoch"]) == [0, 1]  # epoch 1 validated in full

    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert main(["--resume", str(cut / "checkpoints" / "last.ckpt")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(cut / "metrics.csv"), pd.read_csv(tmp_path / "runs/whole/metrics.csv"))


def test_the_printed_resume_command_pastes_into_bash_for_a_folder_with_spaces_parentheses_and_hangul(
        data, tmp_path, monkeypatch, interrupt, capsys):
    """The report: ``Continue with: python train.py --resume ~/My Runs/형태 images (copy)-...`` was unquoted, and
    bash answered ``syntax error near unexpected token '('``. Here the command is run as printed."""
    out_dir = tmp_path / "My Runs" / "형태 images (copy)"
    monkeypatch.chdir(tmp_path)
    interrupt(SendSignal(signal.SIGINT, epoch=1, batch=1))
    args = ["--data", str(data), "--epochs", "2", "--out-dir", str(out_dir), "--name", "it's (1)", *SMALL]
    assert main(args) == 128 + signal.SIGINT
    message = capsys.readouterr().err
    assert "stopped by SIGINT in epoch 2 after batch 2 of 5" in message
    [command] = re.findall(r"^Continue with: (.*)$", message, re.MULTILINE)
    run = out_dir / "it's (1)"
    assert shlex.split(command) == ["python", "train.py", "--resume", str(run)]

    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONUNBUFFERED": "1",
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    started = time.perf_counter()
    resumed = subprocess.run(["bash", "-c", command], cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=600)
    seconds = time.perf_counter() - started
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "results.json").read_text())["epochs_trained"] == 2
    # the epoch it resumed inside: timed from its first batch after the resume (it read the uptime before)
    [(taken, rate)] = re.findall(r"^epoch 2/2 .*  ([\d.]+) s  (\d+) img/s$", resumed.stdout, re.MULTILINE)
    assert float(taken) < seconds and int(rate) > 0, resumed.stdout


def test_signal_in_the_last_validation_skips_the_test_until_resumed(data, tmp_path, monkeypatch, interrupt,
                                                                   capsys):
    monkeypatch.chdir(tmp_path)
    interrupt(SendSignal(signal.SIGTERM, epoch=1, batch=0, stage="val"))
    assert main(["--data", str(data), "--epochs", "2", "--name", "late", *SMALL]) == 128 + signal.SIGTERM
    assert "stopped by SIGTERM after the last epoch, before the test" in capsys.readouterr().err
    run = tmp_path / "runs" / "late"
    assert not (run / "results.json").exists()
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert main(["--resume", "runs/late"]) == 0
    assert list(pd.read_csv(run / "metrics.csv")["epoch"]) == [0, 1]
    assert "test/acc" in json.loads((run / "results.json").read_text())


class SignalInTest(L.Callback):
    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        os.kill(os.getpid(), signal.SIGTERM)


def test_signal_during_the_final_test_writes_no_results_and_resume_tests_again(data, tmp_path, monkeypatch,
                                                                            interrupt, capsys):
    monkeypatch.chdir(tmp_path)
    interrupt(SignalInTest())
    assert main(["--data", str(data), "--epochs", "1", "--name", "test-cut", *SMALL]) == 128 + signal.SIGTERM
    assert "stopped by SIGTERM during the final evaluation" in capsys.readouterr().err
    assert not (tmp_path / "runs/test-cut/results.json").exists()
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert main(["--resume", "runs/test-cut"]) == 0
    assert "test/acc" in json.loads((tmp_path / "runs/test-cut/results.json").read_text())


class SignalTwice(SendSignal):
    def _maybe_send(self, trainer, batch_idx, stage):
        super()._maybe_send(trainer, batch_idx, stage)
        super()._maybe_send(trainer, batch_idx, stage)


def test_second_ctrl_c_aborts_without_a_new_checkpoint(data, tmp_path, monkeypatch, interrupt, capsys):
    monkeypatch.chdir(tmp_path)
    interrupt(SignalTwice(signal.SIGINT, epoch=1, batch=1))
    with pytest.raises(SystemExit):  # Lightning's own KeyboardInterrupt handling exits
        main(["--data", str(data), "--epochs", "3", "--name", "abort", *SMALL])
    assert "second Ctrl+C: aborting without a new checkpoint" in capsys.readouterr().out
    checkpoint = torch.load(tmp_path / "runs/abort/checkpoints/last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == 0 and checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]["is_last_batch"]


@pytest.fixture(scope="module")
def finished_template(tmp_path_factory):
    root = tmp_path_factory.mktemp("finished")
    data = make_class_folder(root / "data", {"a": 12, "b": 12, "c": 12}, size=8)
    assert main(["--data", str(data), "--epochs", "2", "--scheduler", "none", "--out-dir", str(root / "runs"),
                 "--name", "done", *SMALL]) == 0
    return root


@pytest.fixture
def finished_run(finished_template, tmp_path):
    """A copy of a finished two-epoch run (scheduler none) and its data, in ``tmp_path/runs/done``."""
    shutil.copytree(finished_template, tmp_path, dirs_exist_ok=True)
    run = tmp_path / "runs" / "done"
    config = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**config, "data": str(tmp_path / "data")}))
    return run


def test_resume_extends_a_finished_run_with_more_epochs(finished_run, capsys):
    assert main(["--resume", str(finished_run), "--epochs", "3", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["epochs"] == 3 and printed["model"] == "mlp"  # the run's settings, not the defaults
    # finished_run is a copy of the run folder: checkpoint paths must follow it, not point at the original
    assert main(["--resume", str(finished_run), "--epochs", "3", "--num-workers", "0"]) == 0
    assert list(pd.read_csv(finished_run / "metrics.csv")["epoch"]) == [0, 1, 2]
    assert yaml.safe_load((finished_run / "config.yaml").read_text())["epochs"] == 3
    results = json.loads((finished_run / "results.json").read_text())
    assert results["epochs_trained"] == 3 and results["best_checkpoint"] == "checkpoints/best.ckpt"


@pytest.mark.parametrize("argv, message", [
    (["--lr", "0.1"], r"--lr 0.1 \(the run has 0.001\) would make it another experiment.*only --epochs"),
    (["--seed", "7"], r"--seed 7 \(the run has 42\) would make it another experiment"),
    ([], r"is finished \(2 of 2 epochs"),
    (["--epochs", "1"], r"--epochs 1: .* has already trained 2 epochs"),
    (["--config", "x.yaml"], "a resumed run keeps its own config.yaml"),
])
def test_resume_refuses_changes_that_make_another_experiment(finished_run, capsys, argv, message):
    assert main(["--resume", str(finished_run), *argv]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_resume_refuses_to_stretch_an_epoch_planned_schedule(finished_run, capsys):
    config = yaml.safe_load((finished_run / "config.yaml").read_text())
    (finished_run / "config.yaml").write_text(yaml.safe_dump({**config, "scheduler": "cosine"}))
    assert main(["--resume", str(finished_run), "--epochs", "5"]) == 2
    assert "cosine learning-rate schedule" in capsys.readouterr().err


def test_resume_names_missing_images_and_broken_checkpoints(finished_run, tmp_path, capsys):
    data = tmp_path / "data"
    (finished_run / "results.json").unlink()
    gone = pd.read_csv(finished_run / "splits.csv")["path"][0]
    (data / gone).unlink()
    assert main(["--resume", str(finished_run)]) == 2
    assert f"1 images of the run's split are gone from {data}: {gone}" in capsys.readouterr().err

    (finished_run / "checkpoints" / "last.ckpt").write_bytes(b"PK\x03\x04 half a zip")
    assert main(["--resume", str(finished_run)]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "checkpoints/best.ckpt" in err


def test_resume_of_a_folder_that_is_no_run(tmp_path, capsys):
    (tmp_path / "runs" / "empty").mkdir(parents=True)
    assert main(["--resume", str(tmp_path / "runs" / "empty")]) == 2
    assert "is not a run folder (it has no config.yaml)" in capsys.readouterr().err
    (tmp_path / "runs" / "empty" / "config.yaml").write_text("epochs: 3\n")
    assert main(["--resume", str(tmp_path / "runs" / "empty")]) == 2
    assert "stopped before its first checkpoint. Start it again with" in capsys.readouterr().err


def test_continued_csv_log_drops_what_the_interruption_threw_away(tmp_path):
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    # the last line was cut by the kill
    (log_dir / "metrics.csv").write_text("epoch,step,train/loss\n0,3,0.9\n1,7,0.5\n2,9,0.4\n2,1")
    (log_dir / "hparams.yaml").write_text("lr: 0.1\n")
    logger = RunCSVLogger(tmp_path, resume_step=8)
    logger.log_metrics({"train/loss": 0.3, "val/acc": 0.5, "epoch": 2}, step=9)
    logger.save()
    logged = pd.read_csv(log_dir / "metrics.csv")
    assert list(logged["step"]) == [3, 7, 9] and list(logged["train/loss"]) == [0.9, 0.5, 0.3]
    assert logged["val/acc"].isna().tolist() == [True, True, False]


def popen_train(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(REPO / "train.py"), *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path, process, timeout=300):
    deadline = time.monotonic() + timeout
    while not path.is_file():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.05)


SLOW_TRAIN = [*SMALL, "--epochs", "6", "--batch-size", "2"]  # batch size 2 (the last flag wins): more steps


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_training_process_resumes_to_its_planned_last_epoch(data, tmp_path, signum):
    process = popen_train("--data", str(data), "--name", "killed", *SLOW_TRAIN, cwd=tmp_path)
    run = tmp_path / "runs" / "killed"
    wait_for(run / "checkpoints" / "last.ckpt", process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == (-signal.SIGKILL if signum == signal.SIGKILL else 128 + signal.SIGTERM), stderr
    if signum == signal.SIGTERM:
        assert "Continue with: python train.py --resume runs/killed" in stderr
    done_before = len(pd.read_csv(run / "metrics.csv"))
    assert 1 <= done_before < 6 and not (run / "results.json").exists()

    resumed = run_main("train.py", "--resume", "runs/killed", cwd=tmp_path)  # in-process: the killed one was real
    assert resumed.returncode == 0, resumed.stderr
    assert list(pd.read_csv(run / "metrics.csv")["epoch"]) == [0, 1, 2, 3, 4, 5]
    logged = pd.read_csv(run / "logs" / "metrics.csv")
    assert list(logged.dropna(subset=["val/loss"])["epoch"]) == [0, 1, 2, 3, 4, 5]
    train_rows = logged.dropna(subset=["train/loss"])["epoch"]
    # a SIGKILL right after an epoch-end checkpoint can miss that epoch's train/* row (see litcls.tracking.loggers)
    assert train_rows.is_unique and set(train_rows) >= set(range(6)) - {done_before - 1}
    assert json.loads((run / "results.json").read_text())["epochs_trained"] == 6


@pytest.mark.slow
def test_ctrl_c_in_a_terminal_with_loader_workers_still_saves_a_checkpoint(data, tmp_path):
    """A terminal sends Ctrl+C to the whole process group, DataLoader workers included."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONUNBUFFERED": "1"}
    args = ["--data", str(data), "--name", "ctrl-c", *SLOW_TRAIN, "--num-workers", "2"]
    process = subprocess.Popen([sys.executable, str(REPO / "train.py"), *args], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    run = tmp_path / "runs" / "ctrl-c"
    wait_for(run / "checkpoints" / "last.ckpt", process)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGINT, stderr
    assert "stopped by SIGINT" in stderr and "Continue with: python train.py --resume runs/ctrl-c" in stderr
    assert "exited unexpectedly" not in stderr
