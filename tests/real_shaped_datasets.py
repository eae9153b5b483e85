"""Small datasets shaped like the real ones students meet: a HAM10000-style manifest (several photos per lesion,
a ``sex`` column) and a chest-X-ray-style pre-split folder (patients in file names, a 16-image val folder).

The classes differ in colour, so a few epochs learn them; photos of one lesion or patient share a tint, so a
split that leaks groups would look better than it is. ``python tests/real_shaped_datasets.py OUT`` writes both.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

HAM_CLASSES = ("nv", "mel", "bkl")
_COLOURS = {"nv": (150, 90, 60), "mel": (60, 40, 30), "bkl": (190, 160, 110), "NORMAL": (200, 200, 200),
            "PNEUMONIA": (110, 110, 110)}


def _image(rng: np.random.Generator, colour: tuple[int, int, int], tint: np.ndarray, size: int) -> Image.Image:
    pixels = np.array(colour, dtype=np.float64) + tint + rng.normal(0, 18, (size, size, 3))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def write_ham_manifest(root: Path, lesions: int = 120, seed: int = 0, size: int = 16) -> Path:
    """``root/HAM10000_metadata.csv`` (lesion_id, image_id, dx, sex, age) and ``root/images/<image_id>.jpg``:
    ``lesions`` lesions of three classes, 1-4 photos each. Returns the manifest's path."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for lesion in range(lesions):
        dx = HAM_CLASSES[lesion % len(HAM_CLASSES)]
        tint = rng.normal(0, 25, 3)
        sex = ("male", "female")[int(rng.integers(2))]
        for _ in range(int(rng.integers(1, 5))):
            image_id = f"ISIC_{len(rows):07d}"
            _image(rng, _COLOURS[dx], tint, size).save(root / "images" / f"{image_id}.jpg", quality=95)
            rows.append({"lesion_id": f"HAM_{lesion:07d}", "image_id": image_id, "dx": dx, "sex": sex,
                         "age": str(int(rng.integers(20, 80)))})
    manifest = root / "HAM10000_metadata.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def write_chest_xray_folder(root: Path, patients: int = 60, seed: int = 0, size: int = 16) -> Path:
    """``root/{train,val,test}/{NORMAL,PNEUMONIA}/`` named as the Kaggle set names them (``IM-0115-0001.jpeg``,
    ``person1234_bacteria_5678.jpeg``): 2-4 images per patient, patients disjoint between train and test, a val
    folder of 8 images per class whose patients also have images in train. Returns ``root``."""
    rng = np.random.default_rng(seed)
    count = 0
    train_patients: dict[str, list[int]] = {"NORMAL": [], "PNEUMONIA": []}
    for patient in range(patients):
        name = ("NORMAL", "PNEUMONIA")[patient % 2]
        split = "test" if patient % 5 == 4 else "train"
        if split == "train":
            train_patients[name].append(patient)
        tint = rng.normal(0, 25, 3)
        for _ in range(int(rng.integers(2, 5))):
            count += 1
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            _image(rng, _COLOURS[name], tint, size).save(folder / _file_name(name, patient, count), quality=95)
    for name, among in train_patients.items():  # the shipped val folder: a few more images of train patients
        for patient in among[:8]:
            count += 1
            folder = root / "val" / name
            folder.mkdir(parents=True, exist_ok=True)
            _image(rng, _COLOURS[name], rng.normal(0, 25, 3), size).save(folder / _file_name(name, patient, count))
    return root


def _file_name(name: str, patient: int, count: int) -> str:
    if name == "NORMAL":
        return f"IM-{patient:04d}-{count:04d}.jpeg"
    return f"person{patient}_{('bacteria', 'virus')[count % 2]}_{count}.jpeg"


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "data")
    print(write_ham_manifest(out / "ham"))
    print(write_chest_xray_folder(out / "chest_xray"))
