"""Benchmark 5: demo.py. Start-up (launch to the page being served) and one prediction with Grad-CAM.

    python bench/demo_latency.py --reps 5                  # trains a small digits cnn run first
    python bench/demo_latency.py --run runs/<name>         # or times an existing run folder

Prints one JSON line. The prediction is timed twice: in the server process (``explain_image``: decode,
predict_images, Grad-CAM, overlay) and as a person sees it in Chromium (file chosen -> Grad-CAM shown).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import REPO, machine, median, run_timed

ENV = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONUNBUFFERED": "1"}


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def start_demo(run: Path, cwd: Path) -> tuple[subprocess.Popen, str, float]:
    """Launch demo.py and wait until its page answers; returns the process, its URL and the seconds taken."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(REPO / "demo.py"), "--ckpt", str(run), "--port", str(port)],
                               cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"demo.py exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return process, url, time.perf_counter() - started
        except OSError:
            time.sleep(0.05)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


def server_side(run: Path, images: list[Path]) -> list[float]:
    """Seconds per explain_image call (the page's whole server-side work), after one warm-up call."""
    sys.path.insert(0, str(REPO / "src"))
    from litcls.cli.demo_page import explain_image
    from litcls.inference.predictor import gradcam_target, load_checkpoint

    module = load_checkpoint(run)
    target = gradcam_target(module)
    explain_image(module, target, images[0])
    times = []
    for image in images:
        started = time.perf_counter()
        explain_image(module, target, image)
        times.append(time.perf_counter() - started)
    return times


def in_browser(url: str, images: list[Path]) -> list[float]:
    """Seconds from choosing a file in Chromium to its Grad-CAM overlay being shown, per image."""
    from playwright.sync_api import expect, sync_playwright

    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"))
        page = browser.new_page()
        page.goto(url)
        upload = page.locator("#image-input input[type=file]")
        for image in images:
            page.evaluate("() => document.querySelector('#gradcam img')?.removeAttribute('src')")
            started = time.perf_counter()
            upload.set_input_files(image)
            page.wait_for_function("() => document.querySelector('#gradcam img')?.complete && "
                                   "document.querySelector('#gradcam img').naturalWidth > 0")
            expect(page.locator("#predicted-class")).to_be_visible()
            times.append(time.perf_counter() - started)
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", type=Path, help="run folder to serve (default: train a digits cnn run first)")
    parser.add_argument("--reps", type=int, default=5, help="start-ups timed")
    parser.add_argument("--images", type=int, default=20, help="test images predicted")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        run = args.run.resolve() if args.run else None
        if run is None:
            run_timed([str(REPO / "train.py"), "--epochs", "3", "--num-workers", "0", "--name", "digits-cnn",
                       "--gradcam-per-class", "0", "--gradcam-mistakes", "0"], cwd)
            run = cwd / "runs" / "digits-cnn"
        sys.path.insert(0, str(REPO / "src"))
        from litcls.runs.finished_folder import held_out_images

        images = [path for path, _ in held_out_images(run, args.images)[0]]
        startups = []
        for _ in range(args.reps):
            process, url, seconds = start_demo(run, Path.cwd() if args.run else cwd)
            startups.append(seconds)
            stop(process)
        results = {"start-up to page served s (median)": round(median(startups), 2),
                   "start-up s (all)": [round(s, 2) for s in startups]}
        server = server_side(run, images)
        results["prediction + Grad-CAM, server s (median, max)"] = [round(median(server), 3), round(max(server), 3)]
        if shutil.which("chromium"):
            process, url, _ = start_demo(run, Path.cwd() if args.run else cwd)
            try:
                browser = in_browser(url, images)
            finally:
                stop(process)
            results["file chosen -> Grad-CAM shown in Chromium s (median, max)"] = [
                round(median(browser), 3), round(max(browser), 3)]
    print(json.dumps({"machine": machine(), "load average": os.getloadavg(), "images": len(images), **results}))


if __name__ == "__main__":
    main()
