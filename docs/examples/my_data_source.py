"""A data source: ``--data two_shapes``, dark and light noisy images drawn on first use.

Put this file in ``src/litcls/data/sources/`` (every module there is imported with the package), then train with
``python train.py --data two_shapes``. Without copying it there, running this file registers the source and hands
every flag to ``train.py``'s entry point: ``python docs/examples/my_data_source.py --data two_shapes``. A loader
takes the :class:`DataSpec` (``--data`` and its options) and returns the sample table: the folder the image paths
are relative to, the class names, and one row per image (``path``, ``label`` as an index into the class names,
``split`` as ``train``/``val``/``test`` or '' to let ``--val-size``/``--test-size`` split it).
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from litcls.data.builtin import data_home
from litcls.data.samples import SampleTable
from litcls.data.sources.registry import DataSpec, register_source

CLASSES = ["dark", "light"]
PER_CLASS = 16


def _root(spec: DataSpec) -> Path:
    return data_home() / "two_shapes"  # $LITCLS_DATA_HOME, else ./data, as for the built-in datasets


@register_source("two_shapes", root=_root)
def two_shapes(spec: DataSpec) -> SampleTable:
    root = _root(spec)
    rng = np.random.default_rng(0)
    rows = []
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(PER_CLASS):
            path = f"{name}/{index:02d}.png"
            if not (root / path).is_file():
                level = 60 + 120 * label + rng.integers(-20, 20, size=(16, 16, 3))
                Image.fromarray(level.clip(0, 255).astype(np.uint8)).save(root / path)
            rows.append((path, label))
    samples = pd.DataFrame(rows, columns=["path", "label"]).assign(split="")
    return SampleTable(root=root, classes=CLASSES, samples=samples)


if __name__ == "__main__":
    from litcls.cli.train import main

    sys.exit(main())
