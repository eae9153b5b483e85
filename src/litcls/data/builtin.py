"""Built-in datasets, written once as ordinary PNG class folders so every code path is the folder path.

``digits`` ships inside scikit-learn (1,797 real 8x8 scans) and needs no network. ``digits-grid`` is its
multi-label sibling: 16x16 images of four digits in a 2x2 grid, labelled with the digits present, written as PNG
files and a manifest (``labels.csv``, labels joined by ``|``) read as any manifest is. ``mnist``,
``fashion_mnist`` and ``cifar10`` are downloaded by torchvision where a network exists. NumPy and Pillow are
imported only when a dataset is written, so ``--data`` can be checked against these names in a blink.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from litcls.errors import UserError
from litcls.files import write_atomically

if TYPE_CHECKING:
    import numpy as np

DATA_HOME_ENV = "LITCLS_DATA_HOME"


def data_home() -> Path:
    """Where built-in datasets are written: ``$LITCLS_DATA_HOME`` or ``./data``."""
    return Path(os.environ.get(DATA_HOME_ENV, "data"))


def _build_once(target: Path, write: Callable[[Path], None]) -> Path:
    """Build the dataset in a temporary folder and rename it, so a killed first run leaves no half dataset; a
    dataset already there is kept."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)

    def build(tmp: Path) -> None:
        tmp.mkdir()
        write(tmp)

    try:
        write_atomically(target, build)
    except OSError:
        if not target.is_dir():  # another process (a DDP rank) finished first otherwise
            raise
    return target


def _save_pngs(folder: Path, images: Iterable[np.ndarray], labels: Iterable[int], classes: list[str],
               prefix: str) -> None:
    import numpy as np
    from PIL import Image

    for index, (image, label) in enumerate(zip(images, labels, strict=False)):
        class_dir = folder / classes[int(label)]
        class_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(image)).save(class_dir / f"{prefix}_{index:05d}.png")


def _write_digits(folder: Path) -> None:
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * (255 / 16)).round().astype(np.uint8)  # 0..16 ink levels -> 0..255 grey
    _save_pngs(folder, images, digits.target, [str(d) for d in range(10)], "digit")


DIGITS_GRID_IMAGES = 1200
DIGITS_GRID_SEED = 0


def _write_digits_grid(folder: Path) -> None:
    """``images/grid_<n>.png`` and ``labels.csv`` (path, labels): each image four seeded random scans in a 2x2 grid;
    a digit is positive where it appears, so about a third of the images hold each digit."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * (255 / 16)).round().astype(np.uint8)
    rng = np.random.default_rng(DIGITS_GRID_SEED)
    (folder / "images").mkdir()
    rows = []
    for index in range(DIGITS_GRID_IMAGES):
        chosen = rng.choice(len(images), size=4, replace=False)
        grid = np.block([[images[chosen[0]], images[chosen[1]]], [images[chosen[2]], images[chosen[3]]]])
        path = f"images/grid_{index:05d}.png"
        Image.fromarray(grid).save(folder / path)
        rows.append(f"{path},{'|'.join(str(digit) for digit in sorted(set(digits.target[chosen].tolist())))}")
    (folder / "labels.csv").write_text("path,labels\n" + "\n".join(rows) + "\n", encoding="utf-8")


def _torchvision_writer(dataset_name: str) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        import numpy as np
        import torchvision.datasets

        dataset_cls = getattr(torchvision.datasets, dataset_name)
        download_dir = data_home() / "downloads"
        for split, train in (("train", True), ("test", False)):
            try:
                dataset = dataset_cls(root=str(download_dir), train=train, download=True)
            except Exception as err:  # urllib, HTTP and integrity errors all end here
                reason = " ".join(str(err).split())
                raise UserError(
                    f"--data: could not download {dataset_name} ({reason}). With no network, "
                    f"place torchvision's {dataset_name} files under {download_dir} (see "
                    f"torchvision.datasets.{dataset_name}) or train on an image folder with --data PATH"
                ) from None
            classes = [name.replace("/", "-") for name in dataset.classes]
            _save_pngs(folder / split, np.asarray(dataset.data), dataset.targets, classes, split)

    return write


BUILTIN_DATASETS: dict[str, Callable[[Path], None]] = {
    "digits": _write_digits,
    "digits-grid": _write_digits_grid,
    "mnist": _torchvision_writer("MNIST"),
    "fashion_mnist": _torchvision_writer("FashionMNIST"),
    "cifar10": _torchvision_writer("CIFAR10"),
}


# the built-in datasets written as a manifest (the file in the dataset's folder, its label column and separator)
BUILTIN_MANIFESTS: dict[str, tuple[str, str, str]] = {"digits-grid": ("labels.csv", "labels", "|")}


def resolve_data(data: str) -> Path:
    """Turn ``--data`` into a folder: an existing path as is, a built-in name written on first use."""
    path = Path(data)
    if path.is_dir() or data not in BUILTIN_DATASETS:
        return path
    return _build_once(data_home() / data, BUILTIN_DATASETS[data])
