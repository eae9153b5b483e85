"""The scan-time check of image files: find the ones that cannot be decoded before any training starts.

A full decode of every file would be the surest check but costs about 90 ms for a 12-megapixel JPEG
(10,000 phone photos: 15 minutes). What each check costs and catches, measured with Pillow 13:

* ``Image.open`` reads the header (20-30 us per file): empty files, files that are no image (HTML saved
  as ``.jpg``), unsupported or broken formats, truncated WebP, decompression bombs, unreadable permissions.
* ``verify()`` walks PNG chunks and their checksums (tens of us): truncated and corrupted PNG.
* a truncated JPEG passes both; its end-of-image marker is missing, which the last two bytes show for
  almost every file. Files with data appended after the image (motion photos carry a video) are searched
  for the marker after the start of the compressed data.
* small images (up to 256 x 256 pixels) are decoded in full, which costs at most ~2 ms each and catches
  truncated GIF, BMP and TIFF too. Larger files in those rarer formats that are broken past their header
  fail during training instead, with the file named (see :class:`litcls.data.dataset.UnreadableImageError`).

The verdicts are kept in the scan index (:mod:`litcls.data.index`): a later start checks only new or changed files.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from io import BytesIO
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from litcls.data import index

FULL_DECODE_MAX_PIXELS = 256 * 256
_JPEG_END = b"\xff\xd9"


def bomb_limit() -> int:
    """Pixels above which PIL refuses to open an image (twice ``Image.MAX_IMAGE_PIXELS``, ~179 MP)."""
    return 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else 0


def check_image(path: str | Path, data: bytes | None = None) -> str | None:
    """Return why ``path`` cannot be used as a training image, or None when it can.

    ``data``: the whole file, when the caller has read it already (small files), so it is not opened again.
    """
    try:
        if (os.stat(path).st_size if data is None else len(data)) == 0:
            return "empty file"
        with warnings.catch_warnings():
            # images between PIL's warning and error thresholds are accepted; its warning would repeat per file
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path if data is None else BytesIO(data)) as image:
                width, height = image.size
                if width < 1 or height < 1:
                    return f"no pixels ({width} x {height})"
                if image.format == "JPEG" and not _jpeg_complete(path, image, data):
                    return "truncated (no end-of-image marker)"
                if width * height <= FULL_DECODE_MAX_PIXELS:
                    image.load()
                else:
                    image.verify()
    except Image.DecompressionBombError:
        return (f"too large: over {bomb_limit() / 1e6:.0f} megapixels, PIL's guard against decompression bombs; "
                "downscale it")
    except UnidentifiedImageError:
        return "not an image, or a format PIL cannot read"
    except PermissionError:
        return "permission denied"
    except (OSError, SyntaxError, ValueError, EOFError) as err:  # PIL reports broken data with all of these
        return "truncated" if "truncated" in str(err).lower() else f"cannot be decoded ({err})"
    return None


def _jpeg_complete(path: str | Path, image: Image.Image, data: bytes | None = None) -> bool:
    scan_start = image.tile[0][2] if image.tile else 0
    if data is not None:
        return data.endswith(_JPEG_END) or data.find(_JPEG_END, scan_start) != -1
    with open(path, "rb") as f:
        f.seek(-2, 2)
        if f.read(2) == _JPEG_END:
            return True
        # Inside compressed data every 0xFF byte is followed by 0x00 or a restart marker, so the first
        # end marker after the start of the scan data is the image's own.
        f.seek(scan_start)
        return f.read().find(_JPEG_END) != -1


def find_unreadable(root: Path, paths: Iterable[str], workers: int = 0) -> list[tuple[str, str]]:
    """``(path, reason)`` for every path (relative to ``root``) that :func:`check_image` rejects.

    Verdicts of files unchanged since an earlier start come from the scan index; the others are checked, on
    ``workers`` processes when there are many.
    """
    root = Path(root)
    paths = paths.tolist() if hasattr(paths, "tolist") else list(paths)
    facts, rows, listed_ns = index.facts_for(root, paths)
    return [(paths[position], reason)
            for position, reason in index.verdicts(root, facts, rows, listed_ns, check_image, workers)]


def describe_rejected(rejected: list[tuple[str, str]], total: int, limit: int = 20) -> str:
    """One message listing skipped files (the first ``limit`` of them) and how many there are."""
    lines = [f"  {path}: {reason}" for path, reason in rejected[:limit]]
    if len(rejected) > limit:
        lines.append(f"  ... and {len(rejected) - limit} more")
    return (f"skipped {len(rejected)} of {total} image files that cannot be read; the others are used:\n"
            + "\n".join(lines))
