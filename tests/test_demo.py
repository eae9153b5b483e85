"""demo.py: the page in a real browser predicts what predict.py predicts; bad input ends with one line, exit 2."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest
import torch

from conftest import REPO, make_class_folder, run_cli, write_images
from litcls.cli.demo import main as demo_main
from litcls.cli.demo_page import decision_note, explain_image
from litcls.cli.predict import main as predict_main
from litcls.config import TrainConfig
from litcls.errors import UserError
from litcls.inference.predictor import gradcam_target, load_checkpoint, predict_images
from litcls.models.module import ClassifierModule
from litcls.runs.dispatch import train
from litcls.runs.finished_folder import held_out_images, resolve_checkpoint

CLASSES = {"red": 8, "green": 8, "blue": 8}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A real training run (one epoch of cnn at 16 px) with its run folder: config, split, checkpoints."""
    root = tmp_path_factory.mktemp("demo")
    config = TrainConfig.of(data=str(make_class_folder(root / "colours", CLASSES)), img_size=16, batch_size=8,
                            epochs=1, num_workers=0, val_size=0.25, test_size=0.25, out_dir=str(root / "runs"),
                            name="tiny", logger=["none"], augment="none", gradcam_per_class=0, gradcam_mistakes=0)
    return train(config.validate())


def _predict_py(ckpt: Path, image: Path, out: Path) -> pd.Series:
    """predict.py's own row for one file (its main(), in this process: the same code, no second start-up)."""
    assert predict_main(["--ckpt", str(ckpt), "--images", str(image), "--out", str(out)]) == 0
    return pd.read_csv(out / "predictions.csv", keep_default_na=False, dtype={"predicted": str}).iloc[0]


def test_a_run_folder_stands_for_its_best_checkpoint(tiny_run, tmp_path):
    best = tiny_run / "checkpoints" / "best.ckpt"
    assert resolve_checkpoint(tiny_run) == best and resolve_checkpoint(best) == best
    (tmp_path / "cv" / "fold_0").mkdir(parents=True)
    for folder, message in ((tmp_path / "nope", "no such file or run folder"),
                            (tmp_path, "has no checkpoints/best.ckpt"),
                            (tmp_path / "cv", "cross-validation run; pass one fold's folder")):
        with pytest.raises(UserError, match=message):
            resolve_checkpoint(folder)
    image = next((tiny_run.parents[1] / "colours" / "red").iterdir())
    row = _predict_py(tiny_run, image, tmp_path / "preds")  # predict.py takes the run folder too
    assert row["predicted"] in CLASSES


def test_examples_are_test_images_covering_the_classes_first(tiny_run, tmp_path):
    examples, missing = held_out_images(tiny_run, limit=4)
    splits = pd.read_csv(tiny_run / "splits.csv", keep_default_na=False)
    test_paths = {str(Path(p)) for p in splits.loc[splits["split"] == "test", "path"]}
    assert missing == "" and len(examples) == 4
    assert all(str(path.relative_to(path.parents[1])) in test_paths for path, _ in examples)
    assert {name for _, name in examples[:3]} == set(CLASSES)
    moved = tmp_path / "run"
    shutil.copytree(tiny_run, moved, ignore=shutil.ignore_patterns("checkpoints"))
    (moved / "config.yaml").write_text((moved / "config.yaml").read_text().replace(
        str(examples[0][0].parents[1]), str(tmp_path / "gone")))
    assert held_out_images(moved, limit=4) == ([], f"the run's data folder '{tmp_path / 'gone'}' is not found "
                                                   f"from {Path.cwd()}")


def test_the_page_result_is_predict_images_row_with_its_gradcam(tiny_run, tmp_path):
    module = load_checkpoint(tiny_run)
    target = gradcam_target(module)
    image = sorted((tiny_run.parents[1] / "colours" / "green").iterdir())[0]
    row = predict_images(module, [image], top_k=3).iloc[0]
    result = explain_image(module, target, image, top_k=3)
    assert result.confidences == {row[f"top{i}_class"]: pytest.approx(row[f"top{i}_probability"]) for i in (1, 2, 3)}
    assert f">{row['predicted']}</span>, probability <span id='predicted-probability'>" \
           f"{row['probability']:.6f}<" in result.summary
    assert result.overlay.dtype == "uint8" and result.overlay.shape == (256, 256, 3)
    assert result.overlay_label == f"Grad-CAM: {row['predicted']}"
    other = next(name for name in CLASSES if name != row["predicted"])
    picked = explain_image(module, target, image, explain_class=other, top_k=3)
    assert picked.overlay_label == f"Grad-CAM: {other}" and not (picked.overlay == result.overlay).all()

    text = tmp_path / "notes.png"
    text.write_text("not an image")
    failed = explain_image(module, target, text)
    assert failed.confidences is None and failed.overlay is None
    assert "Cannot read this file as an image" in failed.summary and str(tmp_path) not in failed.summary
    assert explain_image(module, target, None).summary == ""


def _bad_checkpoint(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.ckpt"
    if kind == "text":
        path.write_text("hello")
    elif kind == "state_dict":  # a plain PyTorch file, not a training checkpoint
        torch.save({"weight": torch.zeros(2)}, path)
    elif kind == "foreign":  # another project's Lightning checkpoint that happens to name classes
        torch.save({"hyper_parameters": {"class_names": ["a", "b"], "backbone": "x"}, "state_dict": {}}, path)
    return path


def test_the_page_states_the_calibration_and_threshold_it_applies():
    module = ClassifierModule("linear", ["normal", "pneumonia"], {"img_size": 8, "mean": [0.5] * 3, "std": [0.5] * 3})
    assert decision_note(module) == ""  # nothing decided: plain probabilities, argmax
    module.decision = {"temperature": 1.5, "threshold": 0.3, "threshold_calibrated": 0.35,
                       "positive_class": "pneumonia"}
    note = decision_note(module)
    assert "temperature 1.500" in note and "pneumonia is predicted when its probability reaches" in note
    assert "<span id='threshold'>0.3500</span>" in note  # the threshold on the calibrated probability shown


@pytest.mark.parametrize("kind, message", [
    ("missing", "no such file or run folder"),
    ("text", "is not a PyTorch checkpoint"),
    ("state_dict", "is not a checkpoint written by train.py"),
    ("foreign", "does not fit this version of litcls"),
])
def test_a_bad_checkpoint_is_one_line_and_exit_2(tmp_path, capsys, kind, message):
    ckpt = _bad_checkpoint(kind, tmp_path)
    assert demo_main(["--ckpt", str(ckpt), "--port", str(_free_port())]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --ckpt:") and message in err, err


def test_demo_cli_refuses_a_port_in_use_and_a_missing_checkpoint(tmp_path):
    """The real command in a subprocess; both checks come before torch is imported, so each takes a moment."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        in_use = run_cli("demo.py", "--ckpt", str(tmp_path), "--port", port, cwd=tmp_path, timeout=60)
    missing = run_cli("demo.py", "--ckpt", str(tmp_path / "runs" / "nope"), "--port", str(_free_port()),
                      cwd=tmp_path, timeout=60)
    for result, message in ((in_use, f"error: --port {port}: already in use on 127.0.0.1"),
                            (missing, "error: --ckpt: no such file or run folder")):
        assert result.returncode == 2 and result.stderr.startswith(message), result.stderr
        assert result.stderr.count("\n") == 1 and result.stdout == ""


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def _chromium() -> str:
    """Debian's chromium; the browser test skips without it, except in CI, where .ci/run installs it."""
    path = shutil.which("chromium")
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but chromium is not installed; .ci/run installs it with apt-get")
    pytest.skip("chromium not installed (apt-get install chromium); the browser test of demo.py needs it")


class DemoServer(NamedTuple):
    url: str
    log: Path


@pytest.fixture(scope="module")
def demo_server(tiny_run, tmp_path_factory):
    """``python demo.py --ckpt RUN`` on a free local port, as a user starts it, once it serves: its URL and the file
    of what it prints (one server for the tests of this module: each start costs seconds)."""
    tmp_path = tmp_path_factory.mktemp("demo-server")
    port = _free_port()
    log = (tmp_path / "demo.log").open("w")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONUNBUFFERED": "1",
           "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}
    process = subprocess.Popen([sys.executable, str(REPO / "demo.py"), "--ckpt", str(tiny_run), "--port", str(port),
                                "--top-k", "3"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, "demo.py did not serve within 60 s"
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        yield DemoServer(url, tmp_path / "demo.log")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_the_started_demo_names_our_share_flag_not_gradios_launch_argument(demo_server):
    log = demo_server.log
    deadline = time.monotonic() + 30  # the lines follow the server's start
    while "add --share" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    printed = log.read_text()
    assert f"* Running on local URL:  {demo_server.url}" in printed
    assert "* To create a public link, add --share" in printed and "share=True" not in printed, printed


@pytest.mark.slow
def test_the_page_in_chromium_predicts_what_predict_py_predicts(tiny_run, demo_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    colours = tiny_run.parents[1] / "colours"
    png = sorted((colours / "blue").iterdir())[0]
    jpeg = write_images(tmp_path / "photos", 1, (40, 200, 60), ext=".jpg", seed=7)[0]
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    disguised = tmp_path / "notes.png"
    disguised.write_text("not an image either")
    expected = {path: _predict_py(tiny_run, path, tmp_path / f"preds-{path.suffix[1:]}") for path in (png, jpeg)}

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=[
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
        try:
            page = browser.new_context(permissions=["camera"]).new_page()
            page.set_default_timeout(20_000)
            expect.set_options(timeout=20_000)  # a shared CI machine may be slow; a failure still fails
            page.goto(demo_server.url)
            upload = page.locator("#image-input input[type=file]")
            summary, cam = page.locator("#summary"), page.locator("#gradcam")

            def shows_predict_py(path: Path) -> None:
                row = expected[path]
                expect(page.locator("#predicted-probability")).to_have_text(f"{row['probability']:.6f}")
                expect(page.locator("#predicted-class")).to_have_text(row["predicted"])
                expect(page.locator("#top-classes")).to_contain_text(row["top2_class"])
                expect(cam).to_contain_text(f"Grad-CAM: {row['predicted']}")
                assert cam.locator("img").evaluate("img => img.complete && img.naturalWidth") >= 256

            expect(page.get_by_text("Test images of the run")).to_be_visible()
            upload.set_input_files(png)
            shows_predict_py(png)

            upload.set_input_files(notes)  # Gradio's upload refuses a file that is not image/*
            expect(page.get_by_text("Invalid file type")).to_be_visible()
            upload.set_input_files(disguised)  # passes the browser's check; our reader refuses it
            expect(summary).to_contain_text("Cannot read this file as an image (UnidentifiedImageError")
            expect(page.locator("#predicted-class")).to_have_count(0)

            upload.set_input_files(jpeg)  # the next upload works
            shows_predict_py(jpeg)
            other = next(name for name in CLASSES if name != expected[jpeg]["predicted"])
            page.locator("#explain-class input").click()
            page.get_by_role("option", name=other, exact=True).click()
            expect(cam).to_contain_text(f"Grad-CAM: {other}")

            image = page.locator("#image-input")
            image.get_by_label("Capture from camera").click()  # Chromium's fake camera: a test pattern
            expect(page.locator("#predicted-class")).to_have_count(0)
            image.get_by_text("Click to Access Webcam").click()
            page.wait_for_function("() => document.querySelector('#image-input video')?.videoWidth > 0")
            image.get_by_label("capture photo").click()
            expect(page.locator("#predicted-class")).to_be_visible()
            expect(cam.locator("img")).to_be_visible()
        finally:
            browser.close()
