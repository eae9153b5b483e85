"""Small datasets shaped like the real ones students meet: a HAM10000-style manifest (several photos per lesion,
a ``sex`` column), a chest-X-ray-style pre-split folder (patients in file names, a 16-image val folder), and two
multi-label chest X-ray manifests: ChestX-ray14's (``Finding Labels`` joined by ``|``, ``No Finding``, a
``Patient ID``) and CheXpert's (one column per finding holding 1.0, 0.0, -1.0 or blank).

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


# ChestX-ray14's findings (five of its fourteen), each with its share of images and the mark it leaves on an image
FINDINGS = ("Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Pneumothorax")
_PREVALENCE = np.array([0.35, 0.15, 0.3, 0.4, 0.1])


def _finding_sets(rng: np.random.Generator, patients: int, max_images: int = 5) -> list[tuple[int, list[int]]]:
    """``(patient, finding indices)`` per image: 1..max_images images per patient; a patient's findings tend to
    recur (a chronic finding is kept in later images), Effusion comes with Cardiomegaly more often than alone;
    about a fifth of the images have none."""
    images = []
    for patient in range(patients):
        chronic = rng.random(len(FINDINGS)) < _PREVALENCE * 0.6
        for _ in range(int(rng.integers(1, max_images + 1))):
            present = chronic & (rng.random(len(FINDINGS)) < 0.8) | (rng.random(len(FINDINGS)) < _PREVALENCE * 0.5)
            if present[1] and rng.random() < 0.5:
                present[2] = True
            images.append((patient, np.flatnonzero(present).tolist()))
    return images


def _xray(rng: np.random.Generator, findings: list[int], size: int) -> Image.Image:
    """A grey noisy square where each finding leaves its own mark (a band, a disc, a side), so they can be learnt."""
    pixels = 90 + rng.normal(0, 14, (size, size))
    half, third = size // 2, max(1, size // 3)
    yy, xx = np.mgrid[:size, :size]
    marks = {0: (yy < third),  # Atelectasis: the top band
             1: (yy - half) ** 2 + (xx - half) ** 2 < (size / 4) ** 2,  # Cardiomegaly: a central disc
             2: (yy >= size - third),  # Effusion: the bottom band
             3: (xx < third),  # Infiltration: the left band
             4: (xx >= size - third)}  # Pneumothorax: the right band
    for finding in findings:
        pixels = pixels + 70 * marks[finding]
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8), mode="L")


def write_chestxray14_manifest(root: Path, patients: int = 200, seed: int = 0, size: int = 32) -> Path:
    """``root/Data_Entry_2017.csv`` (``Image Index``, ``Finding Labels``, ``Follow-up #``, ``Patient ID``,
    ``Patient Age``, ``Patient Gender``, ``View Position``) and ``root/images/<index>.png``, as ChestX-ray14 ships
    them: 1-5 images per patient (about 600 for 200 patients), five findings joined by ``|`` with unequal
    prevalence, ``No Finding`` for about a fifth. Returns the manifest's path.

    Train it with ``--path-col 'images/{Image Index}' --label-col 'Finding Labels' --label-sep '|'
    --negative-label 'No Finding' --group-col 'Patient ID'``.
    """
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows, follow_up = [], {}
    for patient, findings in _finding_sets(rng, patients):
        follow_up[patient] = follow_up.get(patient, -1) + 1
        name = f"{patient + 1:08d}_{follow_up[patient]:03d}.png"
        _xray(rng, findings, size).save(root / "images" / name)
        rows.append({"Image Index": name,
                     "Finding Labels": "|".join(FINDINGS[f] for f in findings) or "No Finding",
                     "Follow-up #": str(follow_up[patient]), "Patient ID": str(patient + 1),
                     "Patient Age": str(30 + patient % 50), "Patient Gender": "MF"[patient % 2],
                     "View Position": ("PA", "AP")[int(rng.integers(2))]})
    manifest = root / "Data_Entry_2017.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


CHEXPERT_FINDINGS = ("Atelectasis", "Cardiomegaly", "Pleural Effusion", "Lung Opacity", "Pneumothorax")


def write_chexpert_manifest(root: Path, patients: int = 150, seed: int = 0, size: int = 32) -> Path:
    """``root/CheXpert-v1.0-small/train.csv`` and its images at ``root/CheXpert-v1.0-small/train/patient<n>/
    study<k>/view1_frontal.png``, as CheXpert ships them: ``Path`` (relative to ``root``), ``Sex``, ``Age``,
    ``Frontal/Lateral``, ``AP/PA``, ``No Finding`` and one column per finding holding 1.0, 0.0, -1.0 (uncertain:
    about a tenth of the positives and a few negatives) or blank (not mentioned: most negatives). Returns the
    manifest's path.

    Train it with ``--image-root ROOT --path-col Path --label-cols 'Atelectasis,Cardiomegaly,...'
    --group-pattern 'patient(\\d+)'``.
    """
    rng = np.random.default_rng(seed)
    base = root / "CheXpert-v1.0-small"
    rows, studies = [], {}
    for patient, findings in _finding_sets(rng, patients):
        studies[patient] = studies.get(patient, 0) + 1
        relative = f"CheXpert-v1.0-small/train/patient{patient + 1:05d}/study{studies[patient]}/view1_frontal.png"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        _xray(rng, findings, size).save(root / relative)
        row = {"Path": relative, "Sex": ("Male", "Female")[patient % 2], "Age": str(30 + patient % 50),
               "Frontal/Lateral": "Frontal", "AP/PA": ("AP", "PA")[int(rng.integers(2))],
               "No Finding": "" if findings else "1.0"}
        for index, name in enumerate(CHEXPERT_FINDINGS):
            draw = rng.random()
            if index in findings:
                row[name] = "-1.0" if draw < 0.1 else "1.0"
            else:
                row[name] = "-1.0" if draw < 0.03 else "0.0" if draw < 0.3 else ""
        rows.append(row)
    base.mkdir(parents=True, exist_ok=True)
    manifest = base / "train.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "data")
    print(write_ham_manifest(out / "ham"))
    print(write_chest_xray_folder(out / "chest_xray"))
    print(write_chestxray14_manifest(out / "chestxray14"))
    print(write_chexpert_manifest(out / "chexpert"))
