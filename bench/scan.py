"""Benchmark 8: the folder scan at scale. ImageFolder's construction, our first scan (no index yet) and our
second start (index warm) on one generated folder of N small JPEGs in 10 classes, in the same run.

    PYTHONPATH=src python bench/scan.py                  # N = 200,000
    PYTHONPATH=src python bench/scan.py -n 20000 --reps 3

The folder is generated once into ``$LITCLS_CACHE/bench/scan-<N>`` (default ``~/.cache/litcls/...``) and reused;
``--delete`` removes it afterwards. Every file is unique (a numbered JPEG comment), so the duplicate check has
to hash them all: the sizes repeat, as in any set of tiny images. Each measurement runs in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

CLASSES = 10
BASES = 40  # distinct encoded images per class; files differ by their comment


def cache_root() -> Path:
    return Path(os.environ.get("LITCLS_CACHE") or Path.home() / ".cache" / "litcls")


def generate(folder: Path, count: int) -> float:
    """Write ``count`` 16x16 JPEGs under ``folder/class_<k>/``; return the seconds it took."""
    import numpy as np
    from PIL import Image

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for k in range(CLASSES):
        class_dir = partial / f"class_{k}"
        class_dir.mkdir(parents=True)
        bases = []
        for _ in range(BASES):
            buffer = BytesIO()
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(buffer, "JPEG", quality=90)
            bases.append(buffer.getvalue())
        for i in range(k, count, CLASSES):
            base = bases[i % BASES]
            comment = f"{i:09d}".encode()
            # SOI, then a COM segment (marker, length including itself), then the rest of the file
            data = base[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + base[2:]
            with open(class_dir / f"img_{i:07d}.jpg", "wb") as f:
                f.write(data)
    partial.rename(folder)
    seconds = time.perf_counter() - started
    time.sleep(2.5)  # files changed within 2 s of a scan are checked again at the next (see litcls.data.index)
    return seconds


def compare_pools(folder: Path, count: int, workers: int) -> dict:
    """Microseconds per image of the first scan's check, in this process, on threads and on processes."""
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    from litcls.data.index import _inspect
    from litcls.data.validate import check_image

    paths = sorted(f"{d.name}/{f.name}" for d in os.scandir(folder) for f in os.scandir(d.path))[:count]
    chunks = [paths[i:i + 500] for i in range(0, len(paths), 500)]
    args = ([check_image] * len(chunks), [str(folder)] * len(chunks), chunks,
            [[os.path.getsize(folder / p) for p in chunk] for chunk in chunks])
    result = {}
    for name, pool in (("one process", None), (f"{workers} threads", ThreadPoolExecutor(workers)),
                       (f"{workers} processes", ProcessPoolExecutor(workers))):
        started = time.perf_counter()
        if pool is None:
            list(map(_inspect, *args))
        else:
            with pool:
                list(pool.map(_inspect, *args))
        result[name] = round((time.perf_counter() - started) / len(paths) * 1e6, 1)
    return result


def measure(what: str, folder: Path, workers: int, out: Path) -> dict:
    """One measurement in this (fresh) process."""
    if what == "pools":
        return compare_pools(folder, 20_000, workers)
    if what == "imagefolder":
        from torchvision.datasets import ImageFolder

        started = time.perf_counter()
        dataset = ImageFolder(str(folder))
        return {"seconds": time.perf_counter() - started, "images": len(dataset)}
    import resource

    from litcls.data.duplicates import find_duplicates
    from litcls.data.scan import scan_folder
    from litcls.data.splits import split_samples, write_splits

    steps = {}
    started = time.perf_counter()
    scan = scan_folder(folder, workers=workers)
    steps["scan"] = time.perf_counter() - started
    duplicates = find_duplicates(scan.root, scan.samples["path"])
    steps["duplicates"] = time.perf_counter() - sum(steps.values()) - started
    samples = split_samples(scan, 0.15, 0.15, 0)
    steps["split"] = time.perf_counter() - sum(steps.values()) - started
    write_splits(samples, scan.classes, out / "splits.csv")
    steps["splits.csv"] = time.perf_counter() - sum(steps.values()) - started
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # the process's peak resident memory
    table = int(samples.memory_usage(deep=True).sum())
    return {"seconds": seconds, "steps": steps, "images": len(samples), "duplicates": len(duplicates),
            "table_bytes": table, "peak_rss_bytes": peak}


def run_one(what: str, folder: Path, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        result = subprocess.run([sys.executable, __file__, "--measure", what, "--folder", str(folder),
                                 "--workers", str(workers), "--out", out], capture_output=True, text=True,
                                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")})
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", "--images", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="processes for the first scan's image check")
    parser.add_argument("--folder", type=Path, help="use this folder (default: generated in the cache)")
    parser.add_argument("--delete", action="store_true", help="delete the generated folder afterwards")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.folder, args.workers, args.out)))
        return

    from litcls.data.index import index_file

    folder = args.folder or cache_root() / "bench" / f"scan-{args.images}"
    if not folder.exists():
        print(f"generating {args.images} images in {folder}: {generate(folder, args.images):.1f} s", flush=True)
    results = {"images": args.images, "load_before": os.getloadavg(), "reps": []}
    results["pools"] = run_one("pools", folder, args.workers)
    print(f"check, us per image: {results['pools']} | load {os.getloadavg()[0]:.2f}", flush=True)
    for rep in range(args.reps):
        index_file(folder).unlink(missing_ok=True)
        run_one("imagefolder", folder, 0)  # the page cache holds the folder's listing for every side alike
        rep_result = {"imagefolder": run_one("imagefolder", folder, 0),
                      "first": run_one("ours", folder, args.workers),
                      "second": run_one("ours", folder, args.workers),
                      "imagefolder_after": run_one("imagefolder", folder, 0),
                      "load": os.getloadavg()}
        results["reps"].append(rep_result)
        imagefolder = (rep_result["imagefolder"]["seconds"] + rep_result["imagefolder_after"]["seconds"]) / 2
        first, second = rep_result["first"], rep_result["second"]
        checks = first["steps"]["scan"] + first["steps"]["duplicates"]
        print(f"rep {rep}: ImageFolder {rep_result['imagefolder']['seconds']:.3f} / "
              f"{rep_result['imagefolder_after']['seconds']:.3f} s | first scan {first['seconds']:.2f} s "
              f"(scan + duplicates {checks / first['images'] * 1e6:.1f} us/image; "
              + ", ".join(f"{k} {v:.2f}" for k, v in first["steps"].items())
              + f") | second start {second['seconds']:.3f} s ("
              + ", ".join(f"{k} {v:.3f}" for k, v in second["steps"].items())
              + f"; {second['seconds'] / imagefolder:.1f}x ImageFolder, limit 1.5x + 1 s = "
              f"{1.5 * imagefolder + 1:.2f} s) | table "
              f"{second['table_bytes'] / second['images']:.0f} B/image, process peak RSS "
              f"{second['peak_rss_bytes'] / 2**20:.0f} MiB ({second['peak_rss_bytes'] / second['images']:.0f} "
              f"B/image) | load {rep_result['load'][0]:.2f}", flush=True)
    print(json.dumps(results))
    if args.delete and not args.folder:
        shutil.rmtree(folder)
        index_file(folder).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
