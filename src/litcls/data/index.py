"""The scan index: what the checks learnt about each image file of a data folder, kept between starts.

Decoding 200,000 images to find the broken ones takes minutes; listing them takes well under a second. So per file
the index keeps its path (relative to the data folder), size, mtime and ctime (ns), the readability verdict and
the BLAKE2b digests the duplicate check computed. A start reuses a file's facts only while all three stat fields
match, and not when the file changed within 2 s of the scan that recorded it (some file systems keep coarse
times); ctime also moves on ``chmod``, so a file made readable is checked again. Everything else is checked anew,
and files gone from the folder drop out. The verdicts are also dropped when Pillow or the check changes.

One file per data folder, ``$LITCLS_CACHE/index/<hash of the resolved folder path>.npz`` (default
``~/.cache/litcls``; delete it to start afresh), written atomically; one that cannot be read is ignored and
rebuilt. Under DDP only the first process of each node checks images: the others list the folder, then wait for
the index to hold what they need (``$LITCLS_INDEX_WAIT`` seconds at most, default 3600) and read it.

This module knows nothing of what makes an image unreadable: the caller passes the check
(:func:`litcls.data.validate.check_image`).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import PIL

from litcls.cache import cache_root
from litcls.files import write_atomically

HEAD_BYTES = 64 * 1024  # the duplicate check compares this much of a file before reading all of it
INDEX_VERSION = 1
CHECK_VERSION = 1  # bump when check_image changes what it accepts: stored verdicts are then dropped
RACY_NS = 2_000_000_000  # a file changed this close to the scan may change again unseen by its timestamps
RECENT_S = 10.0  # facts a listing in this process confirmed are reused this long without another stat
WAIT_ENV = "LITCLS_INDEX_WAIT"
PARALLEL_MIN = 2000  # fewer files than this are checked in this process: starting workers would cost more
_CHUNK = 1000

Check = Callable[..., "str | None"]  # check(path, data=bytes or None) -> reason or None


def index_file(root: str | Path) -> Path:
    """The index file of the folder ``root`` (resolved, so every spelling of one folder shares it)."""
    key = hashlib.sha256(os.fsencode(Path(root).resolve())).hexdigest()[:24]
    return cache_root() / "index" / f"{key}.npz"


def digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def file_digest(path: str | Path, limit: int | None = None) -> bytes:
    """BLAKE2b of the file's first ``limit`` bytes (all of it for None)."""
    with open(path, "rb") as f:
        if limit is not None:
            return digest(f.read(limit))
        return hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16)).digest()


def scans_here() -> bool:
    """True in the process that checks images: local rank 0 of a distributed run, or any process outside one."""
    return (os.environ.get("LOCAL_RANK") or os.environ.get("SLURM_LOCALID") or "0") == "0"


@dataclass
class Facts:
    """What is known of a list of files, one row per path; the arrays are aligned with ``paths``.

    ``size`` is -1 for a file that could not be stat'ed: nothing about it is stored or reused.
    """

    paths: list[str]
    size: np.ndarray
    mtime: np.ndarray
    ctime: np.ndarray
    # the rest is empty (nothing known) unless given, as when read from the index file
    checked: np.ndarray | None = None  # bool: the file's verdict is known
    rejected: dict[int, str] | None = None  # row -> why the file cannot be used, for checked files that cannot
    head: np.ndarray | None = None  # (n, 16) uint8: digest of the first HEAD_BYTES
    has_head: np.ndarray | None = None
    full: np.ndarray | None = None  # (n, 16) uint8: digest of the whole file
    has_full: np.ndarray | None = None
    stored: Facts | None = field(default=None, repr=False)  # the index as loaded, for entries not listed here
    complete: bool = False  # these are all the files of the folder: the index drops any others

    def __post_init__(self):
        n = len(self.paths)
        if self.checked is None:
            self.checked = np.zeros(n, bool)
            self.rejected = {}
            self.head, self.full = np.zeros((n, 16), np.uint8), np.zeros((n, 16), np.uint8)
            self.has_head, self.has_full = np.zeros(n, bool), np.zeros(n, bool)

    def rows_of(self, paths: Sequence[str]) -> np.ndarray | None:
        """Row numbers of ``paths``, or None when one of them is not here."""
        paths = list(paths)
        if paths == self.paths:
            return np.arange(len(paths))
        position = dict(zip(self.paths, range(len(self.paths)), strict=True))
        try:
            return np.fromiter((position[path] for path in paths), np.int64, len(paths))
        except KeyError:
            return None

    def adopt(self, stored: Facts, scanned_ns: int, trust_recent: bool) -> None:
        """Take the facts ``stored`` holds about files unchanged since, where this has none yet."""
        if not len(stored.paths) or not len(self.paths):
            return
        if stored.paths == self.paths:  # the usual second start: nothing added or deleted
            rows = np.arange(len(self.paths))
        else:
            position = dict(zip(stored.paths, range(len(stored.paths)), strict=True))
            rows = np.fromiter((position.get(path, -1) for path in self.paths), np.int64, len(self.paths))
        found = rows >= 0
        rows = np.where(found, rows, 0)
        same = (found & (self.size >= 0) & (stored.size[rows] == self.size) & (stored.mtime[rows] == self.mtime)
                & (stored.ctime[rows] == self.ctime))
        if not trust_recent:  # git's "racily clean" entries: changed too close to the scan to be trusted
            same &= (self.mtime < scanned_ns - RACY_NS) & (self.ctime < scanned_ns - RACY_NS)
        take = same & ~self.checked & stored.checked[rows]
        if stored.rejected:
            stored_bad = np.zeros(len(stored.paths), bool)
            stored_bad[list(stored.rejected)] = True
            for row in np.flatnonzero(take & stored_bad[rows]):
                self.rejected[int(row)] = stored.rejected[int(rows[row])]
        self.checked |= take
        for known, values, stored_known, stored_values in ((self.has_head, self.head, stored.has_head, stored.head),
                                                           (self.has_full, self.full, stored.has_full, stored.full)):
            take = same & ~known & stored_known[rows]
            values[take] = stored_values[rows[take]]
            known |= take


def stat_files(root: Path, paths: Sequence[str]) -> Facts:
    """Facts holding only the stat of each file (-1 where it fails: missing, permission denied)."""
    stats = np.full((len(paths), 3), -1, np.int64)
    base = os.fspath(root)
    for row, path in enumerate(paths):
        try:
            st = os.stat(os.path.join(base, path))
        except OSError:
            continue
        stats[row] = st.st_size, st.st_mtime_ns, st.st_ctime_ns
    return Facts(list(paths), stats[:, 0].copy(), stats[:, 1].copy(), stats[:, 2].copy())


# --- the file ---------------------------------------------------------------------------------------------------

_FIELDS = ("size", "mtime", "ctime", "checked", "head", "has_head", "full", "has_full")


def _checker() -> str:
    return f"{CHECK_VERSION}/pillow-{PIL.__version__}"


def _join(texts: list[str]) -> np.ndarray:
    return np.frombuffer("\0".join(texts).encode("utf-8", "surrogateescape"), np.uint8)


def _split(blob: np.ndarray, count: int) -> list[str]:
    texts = blob.tobytes().decode("utf-8", "surrogateescape").split("\0") if count else []
    if len(texts) != count:
        raise ValueError(f"{len(texts)} names for {count} entries")
    return texts


def load(root: Path) -> tuple[Facts, int] | None:
    """The stored facts of ``root`` and when they were scanned (ns), or None without a usable index."""
    file = index_file(root)
    if not file.exists():
        return None
    try:
        with np.load(file, allow_pickle=False) as npz:
            meta = json.loads(npz["meta"].tobytes())
            if meta.get("version") != INDEX_VERSION or meta.get("root") != str(Path(root).resolve()):
                return None  # another format, or (a hash collision, a copied cache) another folder
            count = int(meta["count"])
            arrays = {name: npz[name] for name in _FIELDS}
            bad = npz["rejected"].tolist()
            rejected = dict(zip(bad, _split(npz["reasons"], len(bad)), strict=True))
            facts = Facts(_split(npz["paths"], count), **arrays, rejected=rejected)
            if any(len(values) != count for values in arrays.values()):
                raise ValueError("columns of different lengths")
    except Exception as err:  # noqa: BLE001 - any damage to a cache file means: rebuild it
        warnings.warn(f"ignored the scan index {file}, which cannot be read ({err}); the images are checked "
                      "again", stacklevel=3)
        return None
    if meta.get("checker") != _checker():
        facts.checked[:] = False
        facts.rejected = {}
    return facts, int(meta["scanned_ns"])


def save(root: Path, facts: Facts, scanned_ns: int) -> None:
    """Write ``facts`` (and, unless they are complete, what the index held of other files) atomically."""
    keep = facts.size >= 0
    parts = [(facts, keep)]
    if not facts.complete and facts.stored is not None:
        listed = set(facts.paths)
        parts.append((facts.stored, np.fromiter((p not in listed for p in facts.stored.paths), bool,
                                                len(facts.stored.paths))))
    paths = [path for part, mask in parts for path, kept in zip(part.paths, mask, strict=True) if kept]
    rejected, offset = {}, 0
    for part, mask in parts:
        new_row = offset + np.cumsum(mask) - 1
        # (NUL separates the reasons in the file; a message quoting file bytes could hold one)
        rejected |= {int(new_row[row]): reason.replace("\0", " ") for row, reason in part.rejected.items() if mask[row]}
        offset += int(mask.sum())
    arrays = {name: np.concatenate([getattr(part, name)[mask] for part, mask in parts]) for name in _FIELDS}
    meta = {"version": INDEX_VERSION, "root": str(Path(root).resolve()), "count": len(paths),
            "scanned_ns": scanned_ns, "checker": _checker()}
    file = index_file(root)
    # permissions as the umask allows, as for any file the user writes (a team may share $LITCLS_CACHE)

    def write(partial: Path) -> None:
        with open(partial, "xb") as f:  # (np.savez given a path would add .npz to its name)
            np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), paths=_join(paths),
                     rejected=np.array(list(rejected), np.int64), reasons=_join(list(rejected.values())), **arrays)

    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(file, write)  # a reader never sees half a file
    except OSError as err:
        warnings.warn(f"cannot write the scan index {file} ({err.strerror or err}); the next start checks the "
                      "images again", stacklevel=3)
        return


# --- facts for a list of files ------------------------------------------------------------------------------------

_recent: dict[str, tuple[float, Facts, int]] = {}  # resolved root -> (when listed, facts, listing time ns)


def lookup(root: Path, listed: Facts, *, complete: bool) -> tuple[Facts, int]:
    """``listed`` (paths and their stat, just taken) with what the index knows of the unchanged files.

    Returns the facts and the time of the listing (ns), which a later save records. ``complete``: these are all
    the folder's files, so entries of any others are dropped at the next save.
    """
    listed_ns = time.time_ns()
    stored = load(root)
    if stored is not None:
        listed.adopt(stored[0], stored[1], trust_recent=not scans_here())
        listed.stored = stored[0]
    listed.complete = complete
    _recent[str(Path(root).resolve())] = (time.monotonic(), listed, listed_ns)
    return listed, listed_ns


def facts_for(root: Path, paths: Sequence[str]) -> tuple[Facts, np.ndarray, int]:
    """Facts holding ``paths`` and their rows: those of a listing in this process moments ago, else stat now."""
    recent = _recent.get(str(Path(root).resolve()))
    if recent is not None and time.monotonic() - recent[0] < RECENT_S:
        rows = recent[1].rows_of(paths)
        if rows is not None:
            return recent[1], rows, recent[2]
    facts, listed_ns = lookup(root, stat_files(root, paths), complete=False)
    return facts, np.arange(len(facts.paths)), listed_ns


def _wait_for(root: Path, facts: Facts, missing: Callable[[], np.ndarray], what: str) -> None:
    """In a process that does not check images: adopt from the index as it is rewritten until nothing is missing."""
    limit = float(os.environ.get(WAIT_ENV, 3600))
    deadline = time.monotonic() + limit
    file = index_file(root)
    seen = None
    while True:
        try:
            st = file.stat()
            signature = st.st_mtime_ns, st.st_size
        except OSError:
            signature = None
        if signature != seen:  # read it again only once it was rewritten
            seen = signature
            stored = load(root)
            if stored is not None:
                facts.adopt(stored[0], stored[1], trust_recent=True)
        if not missing().size:
            return
        if time.monotonic() >= deadline:
            warnings.warn(f"waited {limit:.0f} s (${WAIT_ENV}) for {file} to hold the {what} of "
                          f"{missing().size} files, which the first process on this node writes; checking them "
                          "in this process", stacklevel=3)
            return
        time.sleep(0.2)


def worker_pool(workers: int, tasks: int | None = None) -> ProcessPoolExecutor | None:
    """A pool of ``workers`` processes (at most one per core and task), or None for fewer than two."""
    workers = min(workers, os.cpu_count() or 1, tasks or workers)
    if workers < 2:
        return None
    methods = multiprocessing.get_all_start_methods()  # fork starts in ms; the others re-import torch
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork" if "fork" in methods else None))


def _inspect(check: Check, root: str, paths: list[str], sizes: list[int]) -> list[tuple[str, bytes | None]]:
    """Verdict (and, for a file of at most HEAD_BYTES, its digest: it is read once anyway) of each file."""
    found = []
    for path, size in zip(paths, sizes, strict=True):
        full = os.path.join(root, path)
        data = None
        if 0 < size <= HEAD_BYTES:
            try:
                with open(full, "rb") as f:
                    data = f.read(HEAD_BYTES + 1)
            except OSError:
                pass
            if data is not None and len(data) != size:  # it is being written: check it as it is now, hash nothing
                data = None
        reason = check(full, data=data)
        found.append((reason or "", digest(data) if data is not None else None))
    return found


def _record(facts: Facts, rows: np.ndarray, found: list[tuple[str, bytes | None]]) -> None:
    """Store what :func:`_inspect` found about the files in ``rows``."""
    for row in rows.tolist():
        facts.rejected.pop(row, None)
    for row, (reason, _) in zip(rows.tolist(), found, strict=True):
        if reason:
            facts.rejected[row] = reason
    hashed = np.fromiter((head is not None for _, head in found), bool, len(found))
    if hashed.any():  # a whole file's digest is also the digest of its beginning
        heads = np.frombuffer(b"".join(head for _, head in found if head is not None), np.uint8).reshape(-1, 16)
        for values, known in ((facts.head, facts.has_head), (facts.full, facts.has_full)):
            values[rows[hashed]] = heads
            known[rows[hashed]] = True
    facts.checked[rows] = True


def _confirmed(root: Path, facts: Facts, listed_ns: int) -> None:
    """``facts`` were confirmed (checked, or taken from the index for an unchanged stat) just now."""
    key = str(Path(root).resolve())
    if key in _recent and _recent[key][1] is facts:
        _recent[key] = (time.monotonic(), facts, listed_ns)


def verdicts(root: Path, facts: Facts, rows: np.ndarray, listed_ns: int, check: Check,
             workers: int = 0) -> list[tuple[int, str]]:
    """``(position in rows, reason)`` of the files in ``rows`` that cannot be used, checking those the index lacks.
    """
    def missing() -> np.ndarray:
        return rows[~facts.checked[rows] & (facts.size[rows] >= 0)]

    if missing().size and not scans_here():
        _wait_for(root, facts, missing, "verdicts")
    todo = rows[~facts.checked[rows]]
    if todo.size:
        if todo.size >= 10 * PARALLEL_MIN:
            print(f"{root}: checking {todo.size} new or changed image files on {max(workers, 1)} process(es); "
                  f"later starts reuse the results ({index_file(root)})", flush=True)
        chunks = [todo[i:i + _CHUNK] for i in range(0, todo.size, _CHUNK)]
        pool = worker_pool(workers, len(chunks)) if todo.size >= PARALLEL_MIN else None
        args = ([check] * len(chunks), [str(root)] * len(chunks),
                [[facts.paths[row] for row in chunk.tolist()] for chunk in chunks],
                [facts.size[chunk].tolist() for chunk in chunks])
        if pool is None:
            found = [item for part in map(_inspect, *args) for item in part]
        else:
            with pool:
                found = [item for part in pool.map(_inspect, *args) for item in part]
        _record(facts, todo, found)
    deleted = facts.complete and facts.stored is not None and len(facts.stored.paths) != (facts.size >= 0).sum()
    if (facts.size[todo] >= 0).any() or deleted:  # something learnt, or entries of deleted files to drop
        save(root, facts, listed_ns)
    if facts.complete:
        facts.stored = None  # only a partial list merges with it when saved; a million paths are worth freeing
    _confirmed(root, facts, listed_ns)
    if not facts.rejected:
        return []
    bad = np.zeros(len(facts.paths), bool)
    bad[list(facts.rejected)] = True
    return [(int(position), facts.rejected[int(rows[position])]) for position in np.flatnonzero(bad[rows])]


def digests(root: Path, facts: Facts, rows: np.ndarray, listed_ns: int, full: bool) -> np.ndarray:
    """The (len(rows), 16) digests of the files in ``rows``: of their first HEAD_BYTES, or whole with ``full``."""
    known, values = (facts.has_full, facts.full) if full else (facts.has_head, facts.head)

    def missing() -> np.ndarray:
        return rows[~known[rows] & (facts.size[rows] >= 0)]

    if missing().size and not scans_here():
        _wait_for(root, facts, missing, "digests")
    todo = rows[~known[rows]]
    for row in todo:
        values[row] = np.frombuffer(file_digest(root / facts.paths[row], None if full else HEAD_BYTES), np.uint8)
    known[todo] = True
    if todo.size:
        save(root, facts, listed_ns)
    return values[rows]
