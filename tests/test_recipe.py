"""The training recipe (issue 18): loss, MixUp/CutMix, EMA, warmup, clipping, channels-last, user callbacks and the
log off a terminal, through the real command line on a tiny folder; focal loss against torch's cross-entropy."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from conftest import make_class_folder, run_cli, run_main
from litcls.cli.train import build_parser, flag_values, main
from litcls.config import AUGMENT_PRESETS, TrainConfig, load_yaml, resolve
from litcls.data.dataset import ImageDataset
from litcls.data.presets import PRESET_DIR
from litcls.data.transforms import eval_transform
from litcls.models.module import ClassifierModule
from litcls.plugins import parse_plugin
from litcls.recipe.focal import FocalLoss
from litcls.runs.dispatch import train
from litcls.runs.resume import resume
from wandb_records import read_offline_run

TINY = ["--img-size", "16", "--batch-size", "8", "--num-workers", "0", "--val-size", "0.25", "--test-size", "0.25",
        "--bootstrap", "0", "--gradcam-per-class", "0", "--gradcam-mistakes", "0"]

# A user's callback, imported from a module on PYTHONPATH: it checks what the model receives. Training batches
# are mixed (their images differ from the loader's); validation and test batches reach the model untouched.
PROBE = '''
import json
import lightning as L
import torch


class Probe(L.Callback):
    def __init__(self, out):
        self.out, self.batch, self.stage = out, None, None
        self.seen = {"train_mixed": 0, "train": 0, "eval_same": 0, "eval": 0}

    def setup(self, trainer, pl_module, stage):
        pl_module.model.register_forward_pre_hook(self._check)

    def _check(self, module, args):
        if self.batch is None or args[0].shape != self.batch.shape:
            return
        same = torch.equal(args[0], self.batch)
        if self.stage == "train":
            self.seen["train"] += 1
            self.seen["train_mixed"] += not same
        else:
            self.seen["eval"] += 1
            self.seen["eval_same"] += same

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.batch, self.stage = batch[0].clone(), "train"

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.batch, self.stage = batch[0].clone(), "eval"

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.batch, self.stage = batch[0].clone(), "eval"

    def on_fit_end(self, trainer, pl_module):
        open(self.out, "w").write(json.dumps(self.seen))
'''


@pytest.mark.parametrize("weight, smoothing, soft", [(None, 0.0, False), ([1.0, 2.0, 0.5], 0.1, False),
                                                      ([1.0, 2.0, 0.5], 0.2, True)])
def test_focal_loss_is_cross_entropy_at_gamma_zero(weight, smoothing, soft):
    torch.manual_seed(0)
    logits = torch.randn(6, 3)
    targets = torch.softmax(torch.randn(6, 3), dim=1) if soft else torch.tensor([0, 1, 2, 2, 1, 0])
    tensor = torch.tensor(weight) if weight else None
    expected = nn.CrossEntropyLoss(weight=tensor, label_smoothing=smoothing)(logits, targets)
    assert FocalLoss(0.0, tensor, smoothing)(logits, targets) == pytest.approx(expected.item(), rel=1e-5)
    assert FocalLoss(2.0, tensor, smoothing)(logits, targets) < expected  # confident images count less


def test_recipe_flags_together_through_the_cli(tmp_path, monkeypatch):
    data = make_class_folder(tmp_path / "shapes", {"circle": 12, "square": 12, "triangle": 12})
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "probe.py").write_text(PROBE)
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))  # as PYTHONPATH=plugins would
    seen = tmp_path / "seen.json"
    result = run_main("train.py", "--data", str(data), "--name", "recipe", "--epochs", "2", "--lr", "0.01",
                      "--warmup-epochs", "1", "--loss", "focal", "--focal-gamma", "1", "--balance", "loss",
                      "--label-smoothing", "0.1", "--mixup", "0.4", "--cutmix", "1.0", "--ema", "0.5",
                      "--grad-clip", "1.0", "--channels-last", "--callbacks", f'probe:Probe:{{"out": "{seen}"}}',
                      *TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "runs" / "recipe"

    # the user's callback ran: training batches were mixed, evaluation batches untouched
    counts = json.loads(seen.read_text())
    assert counts["train_mixed"] == counts["train"] > 0 and counts["eval_same"] == counts["eval"] > 0

    # not a terminal: one plain line per epoch, no carriage return anywhere
    assert "\r" not in result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and all(re.fullmatch(r"epoch \d/2  train loss .* val F1 .* lr .* s  \d+ img/s", line)
                                   for line in lines), lines

    # warmup: the first epoch at lr / (N + 1), then the schedule from lr
    metrics = pd.read_csv(run / "metrics.csv")
    assert metrics["train/lr"].tolist() == pytest.approx([0.005, 0.01])

    # EMA: best.ckpt holds the averaged weights, which differ from the raw ones, and the evaluation used them
    checkpoint = torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    averaged, raw = checkpoint["state_dict"], checkpoint["current_model_state"]
    assert any(not torch.equal(averaged[key], raw[key]) for key in averaged if key.startswith("model."))
    module = ClassifierModule.load_from_checkpoint(run / "checkpoints" / "best.ckpt", map_location="cpu").eval()
    predictions = pd.read_csv(run / "predictions.csv")
    dataset = ImageDataset(data, predictions["path"].tolist(), predictions["label"].tolist(),
                           eval_transform(module.preprocessing))
    with torch.no_grad():
        probabilities = torch.softmax(module(torch.stack([dataset[i][0] for i in range(len(dataset))])), dim=1)
    columns = [f"prob_{name}" for name in module.class_names]
    np.testing.assert_allclose(predictions[columns].to_numpy(), probabilities.numpy(), atol=1e-5)


def test_seeds_train_one_run_each_on_one_split_and_aggregate(tmp_path):
    data = make_class_folder(tmp_path / "shapes", {"circle": 12, "square": 12, "triangle": 12}, size=8)
    env = {"NETRC": str(tmp_path / "no-netrc"), "WANDB_SILENT": "true", "WANDB_CACHE_DIR": str(tmp_path / "cache"),
           "WANDB_CONFIG_DIR": str(tmp_path / "config")}
    result = run_cli("train.py", "--data", str(data), "--model", "linear", "--img-size", "8", "--batch-size", "8",
                     "--epochs", "1", "--num-workers", "0", "--test-size", "0.25", "--bootstrap", "0", "--seeds", "3",
                     "5", "--name", "seeds", "--progress", "none", "--logger", "csv", "wandb", "--wandb-mode",
                     "offline", "--no-log-model", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "runs" / "seeds"
    aggregate = json.loads((run / "seeds_results.json").read_text())
    per_seed = [json.loads((run / f"seed_{seed}" / "results.json").read_text()) for seed in (3, 5)]
    for name in ("test/acc", "val/loss"):
        values = [results[name] for results in per_seed]
        entry = aggregate["metrics"][name]
        assert entry["per_seed"] == pytest.approx(values)
        assert (entry["mean"], entry["std"]) == pytest.approx((np.mean(values), np.std(values, ddof=1)))
    table = pd.read_csv(run / "seeds_results.csv", dtype={"seed": str})
    assert table["seed"].tolist() == ["3", "5", "mean", "std", "ensemble"]
    # the seeds' ensemble, calibrated on the shared validation split, on the shared test split
    assert "shared split" in aggregate["ensemble"]["fitted_on"]
    assert table.iloc[-1]["test/acc"] == pytest.approx(aggregate["ensemble"]["test"]["test/acc"])
    assert (run / "report.html").is_file() and "seed 3" in result.stdout and "mean ± std" in result.stdout
    splits = [pd.read_csv(run / f"seed_{seed}" / "splits.csv") for seed in (3, 5)]
    pd.testing.assert_frame_equal(*splits)  # the split of --seed, whatever the training seed
    assert not re.search(r"^epoch ", result.stdout, re.M)  # --progress none
    for seed in (3, 5):
        [offline] = (run / f"seed_{seed}" / "wandb").glob("offline-run-*")
        record = read_offline_run(offline)
        assert (record.group, record.job_type, record.config["seed"]) == ("seeds", f"seed_{seed}", seed)


@pytest.mark.parametrize("args, message", [
    (["--mixup", "0"], "--mixup must be positive"),
    (["--cutmix", "-1"], "--cutmix must be positive"),
    (["--ema", "1"], r"--ema .* must be in \(0, 1\)"),
    (["--epochs", "3", "--warmup-epochs", "3"], r"--warmup-epochs \(3\) must be less than --epochs \(3\)"),
    (["--seeds", "0", "1", "--folds", "3"], "--seeds and --folds"),
    (["--callbacks", "litcls.config:TrainConfig"], "is not a Lightning Callback"),
    (["--callbacks", "no_such_module:Thing"], "cannot import no_such_module"),
    (["--callbacks", "not-a-spec"], "expected pkg.module:Class"),
])
def test_bad_recipe_flags_stop_with_one_line_before_training(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--num-workers", "0", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(message, err), err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "data").exists()


def test_resume_keeps_the_weight_average(tmp_path):
    data = make_class_folder(tmp_path / "shapes", {"circle": 12, "square": 12, "triangle": 12}, size=8)
    config = TrainConfig.of(data=str(data), model="linear", img_size=8, batch_size=8, epochs=1, num_workers=0,
                            test_size=0.25, scheduler="none", ema=0.5, logger=["none"], bootstrap=0, progress="none",
                            out_dir=str(tmp_path / "runs"), name="ema", accelerator="cpu").validate()
    run = train(config)
    resume(run, {"epochs": 2})
    last = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    # every optimizer step of both epochs went into the average, not only the resumed epoch's
    assert last["epoch"] == 1 and int(last["averaging_state"]["n_averaged"]) == last["global_step"] > 0


def test_compile_falls_back_with_a_warning_where_the_platform_cannot(tmp_path):
    data = make_class_folder(tmp_path / "shapes", {"circle": 8, "square": 8}, size=8)
    result = run_cli("train.py", "--data", str(data), "--model", "linear", "--img-size", "8", "--num-workers", "0",
                     "--fast-dev-run", "--compile", "--logger", "none", cwd=tmp_path,
                     env={"CXX": "/bin/false", "CC": "/bin/false"})  # no working C++ compiler for inductor
    assert result.returncode == 0, result.stderr[-3000:]
    assert "--compile: torch.compile failed on this platform" in result.stderr


def test_callbacks_repeat_on_the_command_line_and_list_in_yaml(tmp_path):
    args = build_parser().parse_args(["--callbacks", "a.b:C", "--callbacks", 'd:E:{"n": 1}', "--seeds", "0", "1"])
    config = resolve({}, flag_values(args))
    assert config.recipe.callbacks == ["a.b:C", 'd:E:{"n": 1}'] and config.repeats.seeds == [0, 1]
    (tmp_path / "c.yaml").write_text("callbacks: [a.b:C]\nseeds: [3, 4]\n")
    assert resolve(load_yaml(tmp_path / "c.yaml"), {}).recipe.callbacks == ["a.b:C"]
    assert parse_plugin('d:E:{"n": 1}') == ("d", "E", {"n": 1})


def test_augmentation_presets_are_the_files_in_the_preset_folder():
    assert set(AUGMENT_PRESETS) == {path.stem for path in PRESET_DIR.glob("*.yaml")} >= {"none", "light"}


def test_a_whole_seeds_run_is_not_resumed_but_its_seeds_are(tmp_path, capsys):
    run = tmp_path / "runs" / "r"
    (run / "seed_0").mkdir(parents=True)
    TrainConfig.of(seeds=[0, 1]).save(run / "config.yaml")
    assert main(["--resume", str(run)]) == 2
    assert f"resume the seed that stopped (python train.py --resume {run}/seed_0)" in capsys.readouterr().err
