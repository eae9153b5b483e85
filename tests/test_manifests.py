"""Data as real datasets come: CSV/TSV manifests, groups from file names, tiny given validation splits.

The datasets are shaped like HAM10000 (a manifest, several photos per lesion, a ``sex`` column) and the Kaggle chest
X-ray set (patients in file names, a 16-image val folder); see ``tests/real_shaped_datasets.py``.
"""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

from conftest import run_cli, run_main
from litcls.cli.predict import main as predict_main
from litcls.cli.train import main
from litcls.config import TrainConfig
from litcls.data.sources import DataSpec, load_samples
from litcls.data.splits import split_samples
from litcls.errors import UserError
from litcls.runs.crossval import cross_validate
from litcls.runs.finished_folder import held_out_images
from real_shaped_datasets import write_chest_xray_folder, write_ham_manifest

HAM = ["--path-col", "images/{image_id}.jpg", "--label-col", "dx", "--group-col", "lesion_id"]
FAST = ["--model", "mlp", "--img-size", "16", "--num-workers", "0", "--bootstrap", "0", "--gradcam-per-class", "0",
        "--gradcam-mistakes", "0"]


@pytest.fixture(scope="module")
def ham(tmp_path_factory):
    return write_ham_manifest(tmp_path_factory.mktemp("ham"), lesions=60)


@pytest.fixture(scope="module")
def chest(tmp_path_factory):
    return write_chest_xray_folder(tmp_path_factory.mktemp("chest") / "chest_xray", patients=40)


def read(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_a_ham_shaped_manifest_trains_by_lesion_with_metadata_slices_resumes_and_predicts(ham, tmp_path, capsys):
    args = ["--data", str(ham), *HAM, "--slice-cols", "sex", *FAST, "--scheduler", "none", "--out-dir",
            str(tmp_path), "--name", "ham"]
    first = run_main("train.py", *args, "--epochs", "1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    run = tmp_path / "ham"
    splits = read(run / "splits.csv")
    manifest = read(ham)
    assert len(splits) == len(manifest) and set(splits["path"]) == {f"images/{i}.jpg" for i in manifest["image_id"]}
    assert list(splits.columns) == ["path", "label", "class", "split", "group", "image_id", "sex", "age"]
    assert splits.groupby("group")["split"].nunique().max() == 1  # no lesion in two splits
    assert json.loads((run / "classes.json").read_text()) == ["bkl", "mel", "nv"]

    resumed = run_main("train.py", "--resume", str(run), "--epochs", "2", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((run / "results.json").read_text())["epochs_trained"] == 2
    predictions = read(run / "predictions.csv")
    assert len(predictions) == (splits["split"] == "test").sum()
    assert {"group", "image_id", "sex", "age"} <= set(predictions.columns)
    slices = read(run / "slices.csv")
    assert set(slices["column"]) == {"group", "sex"}
    sexes = slices[slices["column"] == "sex"]
    assert sorted(sexes["value"]) == sorted(predictions["sex"].unique())
    assert sexes["images"].astype(int).sum() == len(predictions)
    assert "<h3>sex</h3>" in (run / "report.html").read_text(encoding="utf-8")
    # predict.py on the manifest itself (an external test set would come as such a table)
    out = tmp_path / "preds"
    assert predict_main(["--ckpt", str(run), "--images", str(ham), "--path-col", "images/{image_id}.jpg",
                         "--label-col", "dx", "--out", str(out)]) == 0
    predicted = read(out / "predictions.csv")
    assert list(predicted["path"]) == [str(ham.parent / "images" / f"{i}.jpg") for i in manifest["image_id"]]
    assert list(predicted["class"]) == list(manifest["dx"]) and (predicted["error"] == "").all()
    assert "images labelled by the manifest" in capsys.readouterr().out
    shown, why = held_out_images(run, limit=3)  # the demo page's examples: found through the manifest's folder
    assert why == "" and all(path.is_file() and path.parent == ham.parent / "images" for path, _ in shown)


def test_k_fold_on_a_manifest_keeps_lesions_whole_and_predicts_every_pool_image_once(ham, tmp_path):
    config = TrainConfig.of(data=str(ham), path_col="images/{image_id}.jpg", label_col="dx", group_col="lesion_id",
                            model="mlp", img_size=16, epochs=1, folds=2, num_workers=0, bootstrap=0,
                            gradcam_per_class=0, gradcam_mistakes=0, logger=["csv"], out_dir=str(tmp_path),
                            name="kfold").validate()
    run = cross_validate(config)
    splits = read(run / "splits.csv")
    placement = splits["split"].where(splits["split"] == "test", "fold" + splits["fold"])
    assert placement.groupby(splits["group"]).nunique().max() == 1
    oof = read(run / "oof_predictions.csv")
    assert sorted(oof["path"]) == sorted(splits.loc[splits["split"] == "pool", "path"])
    assert "sex" in oof.columns


def test_a_split_column_and_a_tsv_manifest_give_the_splits(tmp_path):
    manifest = write_ham_manifest(tmp_path, lesions=30)
    table = read(manifest)
    table["subset"] = ["TRAIN" if i % 5 else "Test" for i in range(len(table))]
    table.loc[1::10, "subset"] = "valid"
    tsv = tmp_path / "labels.tsv"
    table.to_csv(tsv, sep="\t", index=False)
    loaded, _ = load_samples(DataSpec(str(tsv), path_col="images/{image_id}.jpg", label_col="dx",
                                      split_col="subset"))
    assert loaded.root == tmp_path and loaded.presplit
    with pytest.warns(UserWarning, match="given validation split holds"):
        samples = split_samples(loaded, 0.15, 0.15, seed=0)
    by_path = dict(zip("images/" + table["image_id"] + ".jpg", table["subset"].str.lower(), strict=True))
    expected = {"train": "train", "test": "test", "valid": "val"}
    assert all(split == expected[by_path[path]] for path, split in zip(samples["path"], samples["split"],
                                                                          strict=True))


def test_group_pattern_finds_patients_in_file_names_and_resplit_val_keeps_them_whole(chest, tmp_path):
    spec = DataSpec(str(chest), group_pattern=r"(person\d+|IM-\d+)")
    loaded, _ = load_samples(spec)
    assert loaded.samples["group"].str.match(r"^(person\d+|IM-\d+)$").all()
    with pytest.warns(UserWarning, match=r"given validation split holds 16 images \(NORMAL 8, PNEUMONIA 8\)"):
        given = split_samples(loaded, 0.15, 0.15, seed=0)
    crossing = given.groupby("group")["split"].nunique()
    assert (crossing > 1).any()  # the shipped val folder shares patients with train

    result = run_main("train.py", "--data", str(chest), "--group-pattern", r"(person\d+|IM-\d+)", "--resplit-val",
                      *FAST, "--epochs", "1", "--out-dir", str(tmp_path), "--name", "cx", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "given validation split holds" not in result.stderr
    splits = read(tmp_path / "cx" / "splits.csv")
    assert splits.groupby("group")["split"].nunique().max() == 1
    assert (splits["given_split"] == "val").sum() == 16 and set(splits["split"]) == {"train", "val", "test"}
    assert (splits.loc[splits["given_split"] == "test", "split"] == "test").all()


def test_without_resplit_val_a_patient_in_train_and_val_stops_with_the_fix(chest):
    loaded, _ = load_samples(DataSpec(str(chest), group_pattern=r"(person\d+|IM-\d+)"))
    from litcls.data.groups import check_groups_disjoint

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        samples = split_samples(loaded, 0.15, 0.15, seed=0)
    with pytest.raises(UserError, match="train and val.*--resplit-val carves validation"):
        check_groups_disjoint(samples)


def _manifest(tmp_path, rows, name="labels.csv"):
    for row in rows:
        if row.get("path") and not row["path"].startswith("gone"):
            from conftest import write_images

            target = tmp_path / row["path"]
            write_images(target.parent, 1, (200, 30, 30), prefix=target.stem)
            (target.parent / f"{target.stem}_000.png").rename(target)
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def _rows(n=3):
    return [{"path": f"img/{cls}{i}.png", "label": cls, "site": "a"} for cls in ("x", "y") for i in range(n)]


@pytest.mark.parametrize(("change", "spec", "message"), [
    (None, {"label_col": "diagnosis"}, r"--label-col diagnosis: .*labels.csv has no such column; its columns are: "
                                       r"path, label, site"),
    (None, {"path_col": "img/{image_id}.png"}, r"--path-col img/\{image_id\}.png: .* has no column image_id"),
    (None, {"split_col": "site"}, r"--split-col site: .* values other than train, val, test in row 2 \('a'\)"),
    (lambda rows: rows[0].update(label=""), {}, r"--label-col label: .* empty label in row 2"),
    (lambda rows: rows.__delitem__(slice(4, None)), {}, r"class\(es\) y of .* have a single image"),
    (None, {"group_pattern": "img/"}, r"--group-pattern 'img/' has no capture group"),
    (None, {"group_pattern": r"patient(\d+)"}, r"--group-pattern 'patient\(\\d\+\)' matches none of the 6 image paths"),
    (None, {"group_pattern": "("}, r"--group-pattern '\(' is not a regular expression"),
])
def test_bad_manifests_stop_with_one_line_naming_the_column_or_row(tmp_path, change, spec, message):
    rows = _rows()
    if change:
        change(rows)
    data = _manifest(tmp_path, rows)
    with pytest.raises(UserError, match=message):
        load_samples(DataSpec(data, **spec))


def test_missing_files_are_skipped_with_one_warning_and_none_left_stops(tmp_path):
    rows = _rows() + [{"path": "gone/x9.png", "label": "x", "site": "b"}]
    data = _manifest(tmp_path, rows)
    with pytest.warns(UserWarning, match=r"(?s)skipped 1 of 7 image files.*gone/x9.png: missing"):
        loaded, _ = load_samples(DataSpec(data))
    assert loaded.skipped == (("gone/x9.png", f"missing: no such file under {tmp_path}"),)
    assert len(loaded.samples) == 6
    (tmp_path / "other").mkdir()
    with pytest.raises(UserError, match=r"none of the 7 images .* can be read from .*other"):
        load_samples(DataSpec(data, image_root=str(tmp_path / "other")))


def test_cli_refusals_are_one_line_exit_2_and_write_no_run_folder(tmp_path, image_folder, capsys):
    data = _manifest(tmp_path, _rows())
    runs = tmp_path / "runs"
    cases = [
        (["--data", str(image_folder), "--label-col", "dx"], "--label-col: for a CSV or TSV manifest"),
        (["--data", str(image_folder), "--resplit-val"], "--resplit-val: the data gives no validation split"),
        (["--data", data, "--slice-cols", "sex"], "--slice-cols: sex not among the columns"),
        (["--data", data, "--group-col", "site", "--group-pattern", "(x)"], "--group-col and --group-pattern both"),
    ]
    for args, message in cases:
        assert main([*args, *FAST, "--out-dir", str(runs)]) == 2, args
        errors = capsys.readouterr().err.strip().splitlines()
        assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0], (args, errors)
    result = run_cli("train.py", "--data", data, "--label-col", "dx", *FAST, "--out-dir", str(runs), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: --label-col dx: ")
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize(("name", "text", "separator"), [
    ("labels.csv", "path,label\na.png,x\n", ","),
    ("labels.csv", "file;shape;session\na.png;x;1,5\n", ";"),  # Excel where the decimal mark is a comma
    ("labels.csv", "path\tlabel\na.png\tx\n", "\t"),
    ("labels.tsv", "path,label\na.png,x\n", ","),  # a .tsv that holds commas is read as it is
    ("labels.tsv", "path\n", "\t"),  # one column: the suffix's own
    ("labels.csv", '"a;b",c;d\n"1;2",3;4\n"5;6",7;8\n', ","),  # both in the header: the lines tell
    ("labels.csv", "x;y,z;w\n1;2,3;4\n5;6,7;8\n", ";"),
])
def test_the_separator_is_sniffed_from_the_file(tmp_path, name, text, separator):
    from litcls.data.manifest import sniff_delimiter

    (tmp_path / name).write_text(text, encoding="utf-8")
    assert sniff_delimiter(tmp_path / name) == separator
