import pytest

from litcls.config import TrainConfig
from litcls.errors import UserError
from litcls.runs.new_folder import RUN_DIR_ENV, claim_run_dir


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for key in (RUN_DIR_ENV, "LOCAL_RANK", "TORCHELASTIC_RUN_ID", "SLURM_NTASKS", "SLURM_JOB_ID"):
        monkeypatch.delenv(key, raising=False)


def test_a_taken_name_gets_a_suffix_and_workers_inherit_the_folder(tmp_path, monkeypatch):
    config = TrainConfig.of(out_dir=str(tmp_path), name="exp")
    first, second = claim_run_dir(config), claim_run_dir(config)
    assert (first.name, second.name) == ("exp", "exp-1")
    monkeypatch.setenv("LOCAL_RANK", "1")  # a worker process started by Lightning's DDP launcher
    assert claim_run_dir(config) == second.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp", "exp-1"]


def test_processes_started_by_torchrun_agree_on_the_job_id(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job42")
    config = TrainConfig.of(out_dir=str(tmp_path))
    assert claim_run_dir(config) == claim_run_dir(config) == tmp_path / "digits-cnn-job42"


def test_torchrun_without_a_shared_id_needs_a_name(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")
    with pytest.raises(UserError, match="--name is required"):
        claim_run_dir(TrainConfig.of(out_dir=str(tmp_path)))
    assert claim_run_dir(TrainConfig.of(out_dir=str(tmp_path), name="x")) == tmp_path / "x"


def test_slurm_tasks_share_the_job_id(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_NTASKS", "8")
    monkeypatch.setenv("SLURM_JOB_ID", "777")
    assert claim_run_dir(TrainConfig.of(out_dir=str(tmp_path), model="mlp")).name == "digits-mlp-777"


def test_an_out_dir_that_cannot_be_created_is_named(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="--out-dir: cannot create a run folder in .*file.*writable"):
        claim_run_dir(TrainConfig.of(out_dir=str(tmp_path / "file" / "runs")))
