"""Benchmark 19: LitData streams. On one generated folder of N small JPEGs in 10 classes (``bench/scan.py``'s):

* writing: ``python -m litcls.stream`` (scan included, no index yet) against what it replaces, the first scan
  (``--data`` read in a fresh process, no index yet) plus a copy of the folder (``cp -r``, onto the disk and into
  /dev/shm), in seconds per image;
* reading: images per second of the training loader over the same training split, from the folder
  (``FolderDataModule``) and from the stream in a local folder (``StreamDataModule``), interleaved, for the split
  the stream is laid out for (seed 42, train.py's default) and another (seed 7).

    PYTHONPATH=src python bench/stream.py -n 20000 --reps 2

Each side runs in a fresh process; the folder is generated once into ``$LITCLS_CACHE/bench/scan-<N>``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import REPO, run_timed
from scan import cache_root, generate


def loader_rate(kind: str, folder: Path, stream: Path, workers: int, img_size: int, batch_size: int,
                seed: int) -> dict:
    """Images per second of one pass over the training loader of ``seed``'s split (in this fresh process)."""
    from litcls.data.datamodule import FolderDataModule
    from litcls.data.sources import DataSpec, load_samples
    from litcls.data.splits import split_samples
    from litcls.data.stream.datamodule import StreamDataModule
    from litcls.data.transforms import Preprocessing

    table, _ = load_samples(DataSpec(str(folder) if kind == "folder" else str(stream)))
    samples = split_samples(table, 0.15, 0.15, seed)
    options = {"augment": "none", "batch_size": batch_size, "num_workers": workers, "seed": seed}
    if kind == "folder":
        module = FolderDataModule(table.root, samples, table.classes, Preprocessing(img_size), **options)
    else:
        module = StreamDataModule(str(stream), samples, table.classes, Preprocessing(img_size), **options)
    module.setup("fit")
    loader = module.train_dataloader()
    started = time.perf_counter()
    images = sum(len(labels) for _, labels in loader)
    seconds = time.perf_counter() - started
    return {"images": images, "seconds": seconds, "rate": images / seconds}


def first_scan(folder: Path) -> dict:
    from litcls.data.sources import DataSpec, load_samples

    table, _ = load_samples(DataSpec(str(folder), num_workers=2))
    return {"images": len(table.samples)}


def copies(work: Path, ram: bool) -> list[tuple[str, Path]]:
    """Where the folder is copied: beside the stream, and (``--ram-copy``) into /dev/shm, a copy that touches no
    disk, the cheapest one this machine can make. (This VM's disk is erratic at creating files: ``cp -r`` of the
    20,000-image folder took 21.6 s into one folder and 1.1 s into another, minutes apart.)"""
    places = [("disk", work / "copy")]
    if ram and Path("/dev/shm").is_dir():
        places.append(("RAM", Path(tempfile.mkdtemp(dir="/dev/shm")) / "copy"))
    return places


def timed_copy(folder: Path, target: Path) -> float:
    """Seconds of ``cp -r folder target``; the copy is deleted afterwards."""
    started = time.perf_counter()
    subprocess.run(["cp", "-r", str(folder), str(target)], check=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(target.parent if target.parent.parent == Path("/dev/shm") else target)
    return seconds


def fresh(what: str, *args: str) -> tuple[float, dict]:
    seconds, out = run_timed([__file__, "--measure", what, *args], cwd=REPO)
    return seconds, json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", "--images", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--img-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--loader-workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--seeds", type=int, nargs="*", default=[42, 7],
                        help="split seeds to read (the stream is laid out for train.py's default, 42); none: "
                             "write only")
    parser.add_argument("--work-dir", type=Path, help="where the stream and the copy are written (default: the "
                        "system's temporary folder; a folder whose file system creates files slowly makes cp slow)")
    parser.add_argument("--ram-copy", action=argparse.BooleanOptionalAction, default=True,
                        help="also time a copy into /dev/shm")
    parser.add_argument("--seed", type=int, default=42, help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stream", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure == "scan":
        print(json.dumps(first_scan(args.folder)))
        return
    if args.measure:
        print(json.dumps(loader_rate(args.measure, args.folder, args.stream, args.workers, args.img_size,
                                     args.batch_size, args.seed)))
        return

    from litcls.data.index import index_file

    folder = cache_root() / "bench" / f"scan-{args.images}"
    if not folder.exists():
        print(f"generating {args.images} images in {folder}: {generate(folder, args.images):.1f} s", flush=True)
    results = {"images": args.images, "load_before": os.getloadavg(), "write": [], "read": [],
               "work_dir": str(args.work_dir or tempfile.gettempdir())}
    with tempfile.TemporaryDirectory(dir=args.work_dir) as work:
        stream = Path(work) / "stream"
        for rep in range(args.reps):
            shutil.rmtree(stream, ignore_errors=True)
            index_file(folder).unlink(missing_ok=True)
            written, said = run_timed(["-m", "litcls.stream", "--data", str(folder), "--out", str(stream)], cwd=REPO)
            source_s = float(re.search(r"reading the source ([0-9.]+) s", said).group(1))
            index_file(folder).unlink(missing_ok=True)
            scanned, _ = fresh("scan", "--folder", str(folder))
            copied = {place: timed_copy(folder, target) for place, target in copies(Path(work), args.ram_copy)}
            fastest = min(copied.values())
            row = {"stream_s": written, "stream_source_s": source_s, "scan_s": scanned, "copy_s": copied,
                   "load": os.getloadavg()}
            results["write"].append(row)
            per = 1e6 / args.images
            print(f"write rep {rep}: python -m litcls.stream {written:.1f} s ({written * per:.0f} us/image; its scan "
                  f"{source_s:.1f} s) | first scan {scanned:.1f} s + cp -r "
                  + " or ".join(f"{seconds:.1f} s ({place})" for place, seconds in copied.items())
                  + f" | ratio to scan + the faster copy {written / (scanned + fastest):.2f} | "
                  f"load {row['load'][0]:.2f}", flush=True)
        stream_bytes = sum(file.stat().st_size for file in stream.iterdir())
        folder_bytes = sum(file.stat().st_size for file in folder.rglob("*.jpg"))
        print(f"stream {stream_bytes / 2**20:.1f} MiB for {folder_bytes / 2**20:.1f} MiB of image files", flush=True)
        for rep in range(args.reps):
            for seed in args.seeds:
                for workers in args.loader_workers:
                    row = {"seed": seed, "workers": workers, "load": os.getloadavg()}
                    for kind in ("folder", "stream"):
                        _, row[kind] = fresh(kind, "--folder", str(folder), "--stream", str(stream), "--workers",
                                             str(workers), "--img-size", str(args.img_size), "--batch-size",
                                             str(args.batch_size), "--seed", str(seed))
                    results["read"].append(row)
                    ratio = row["stream"]["rate"] / row["folder"]["rate"]
                    print(f"read rep {rep}, split seed {seed}, {workers} workers: folder {row['folder']['rate']:.0f} "
                          f"img/s, stream {row['stream']['rate']:.0f} img/s ({row['stream']['images']} of "
                          f"{row['folder']['images']} images) | ratio {ratio:.2f} | load {row['load'][0]:.2f}",
                          flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
