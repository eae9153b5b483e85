"""``predict.py``: a checkpoint and new images -> predictions.csv (and an exported model on request)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from litcls.cli.exit_codes import one_line_errors
from litcls.errors import UserError
from litcls.quiet import one_line_warnings
from litcls.runs.finished_folder import resolve_checkpoint

EXPORT_FORMATS = ("onnx", "torchscript")
# litcls.inference.tta.POLICIES, named here without importing torch
TTA_POLICIES = ("none", "flip", "flips", "shift", "flip-shift")
TTA_DEFAULT = "flip"
PARITY_IMAGES = 256  # images the ONNX export is checked on, at most


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="predict.py",
        description="Predict classes of new images with a checkpoint written by train.py. Class names and "
                    "preprocessing come from the checkpoint.",
        epilog="Example: python predict.py --ckpt runs/pets-cnn --images photos/ --out preds",
    )
    parser.add_argument("--ckpt", required=True, action="append", metavar="RUN_OR_CKPT",
                        help="a checkpoint (.ckpt) written by train.py, or a run folder (its checkpoints/best.ckpt); "
                        "a k-fold or seeds run folder, or --ckpt repeated, predicts with the ensemble of their "
                        "checkpoints (the mean of their probabilities)")
    parser.add_argument("--images", nargs="+", metavar="DIR_OR_FILE", help="image files and/or folders (recursive), "
                        "or one CSV/TSV manifest listing images (see --path-col, --label-col)")
    parser.add_argument("--path-col", default="path", help="manifest: the column of image paths, or a template "
                        "over columns such as images/{image_id}.jpg (default: path)")
    parser.add_argument("--label-col", help="manifest: the column of true class names, for an accuracy line and "
                        "the label, class, loss, correct columns (default: label, when the manifest has it)")
    parser.add_argument("--image-root", help="manifest: the folder paths are relative to (default: its folder)")
    parser.add_argument("--out", default="predictions", help="output folder (default: predictions)")
    parser.add_argument("--top-k", type=int, default=3, help="classes listed per image (default: 3)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per batch (default: 32)")
    parser.add_argument("--num-workers", type=int, default=0, help="decoding worker processes (default: 0)")
    parser.add_argument("--tta", nargs="?", const=TTA_DEFAULT, default="none", choices=TTA_POLICIES,
                        metavar="POLICY", help="test-time augmentation: average the probabilities over views of each "
                        f"image: {', '.join(TTA_POLICIES)} (--tta alone: {TTA_DEFAULT}, the image and its mirror; "
                        "flips adds the vertical mirror; shift: the image and four shifts of 1/16 of its side; "
                        "flip-shift: both; default: none)")
    parser.add_argument("--no-calibration", action="store_true",
                        help="report the model's own probabilities, not those calibrated by the temperature the "
                             "training run fitted on its validation split")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps (default: auto)")
    parser.add_argument("--gradcam", action="store_true",
                        help="write a Grad-CAM overlay of the predicted class per image under OUT/gradcam/ "
                        "(multi-label: one per label called)")
    parser.add_argument("--gradcam-layer", help="layer to explain, e.g. model.features.7 (default: automatic)")
    parser.add_argument("--export", choices=EXPORT_FORMATS,
                        help="also write the model as ONNX (raw uint8 RGB pixels in, calibrated probabilities out, "
                        "checked against predict.py on the --images or the run's held-out images) or TorchScript")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="allow a checkpoint holding arbitrary Python objects (can run code: only yours)")
    return parser


def run(args: argparse.Namespace) -> None:
    if not args.images and not args.export:
        raise UserError("nothing to do: give --images to predict and/or --export to export the model")
    if args.top_k < 1 or args.batch_size < 1:
        raise UserError("--top-k and --batch-size must be at least 1")
    for ckpt in args.ckpt:  # a path that is not there is refused before torch and Lightning load
        if not Path(ckpt).exists():
            resolve_checkpoint(ckpt)

    import torch

    from litcls.data.manifest import is_manifest
    from litcls.inference.ensemble import load_ensemble
    from litcls.inference.ensemble_export import export_ensemble
    from litcls.inference.export import export_model, max_difference_to_pytorch, pixel_kind
    from litcls.inference.predictor import predict_images, write_gradcam

    members, ensemble = load_ensemble(args.ckpt, trust=args.trust_checkpoint, calibrated=not args.no_calibration)
    module = members[0]
    if len(members) > 1 and (args.gradcam or args.export == "torchscript"):
        raise UserError(f"--gradcam and --export torchscript take one checkpoint; --ckpt gives an ensemble of "
                        f"{len(members)} (--export onnx writes an ensemble as one graph)")
    if module.task.multi_hot and len(members) > 1:
        raise UserError("--ckpt: an ensemble of multi-label checkpoints is not supported yet; give one")
    if module.task.multi_hot and args.label_col:
        raise UserError("--label-col does not handle multi-label checkpoints yet; predict without it "
                        "(predictions.csv holds prob_<label> and pred_<label> per label)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    if args.images:
        paths, labels, labelled = images_to_predict(args, module.class_names)
        if module.task.multi_hot:  # a folder holds one class; a multi-label image has a set of labels
            labels, labelled = None, 0
        describe_decision(module, calibrated=not args.no_calibration, members=len(members), ensemble=ensemble)
        table = predict_images(members if len(members) > 1 else module, paths, batch_size=args.batch_size,
                               top_k=args.top_k, tta=args.tta, num_workers=args.num_workers, device=args.device,
                               calibrated=not args.no_calibration, labels=labels, ensemble=ensemble)
        if args.gradcam:
            table["gradcam"] = write_gradcam(module, table, out / "gradcam", layer=args.gradcam_layer,
                                             batch_size=args.batch_size)
        table.to_csv(out / "predictions.csv", index=False, encoding="utf-8")
        failed = table[table["error"] != ""]
        print(f"{len(table)} images -> {out / 'predictions.csv'}"
              + (f" ({len(failed)} unreadable, listed with their error)" if len(failed) else ""))
        source = "their folder" if len(args.images) > 1 or not is_manifest(args.images[0]) else "the manifest"
        describe_labels(table, len(paths), labelled, source)
    if args.export == "onnx":
        if len(members) > 1:
            model_file = export_ensemble(members, ensemble, out)
        else:
            model_file = export_model(module, out, "onnx", calibrated=not args.no_calibration)
        what = ("a probability per label out; label names, per-label thresholds" if module.task.multi_hot
                else "probabilities out; class names, threshold")
        print(f"exported {model_file} ({pixel_kind(module.preprocessing)} pixels in, {what} and preprocessing in its "
              f"metadata) and {out / 'model.json'}")
        check_onnx_export(args, members if len(members) > 1 else module, model_file,
                          paths if args.images else None, ensemble)
    elif args.export:
        model_file = export_model(module, out, args.export)
        difference = max_difference_to_pytorch(module, model_file, torch.randn(4, *module.preprocessing.input_shape))
        print(f"exported {model_file} and {out / 'model.json'}; largest logit difference to PyTorch on a "
              f"random batch: {difference:.2e}")
        if difference > 1e-4:
            raise UserError(f"the exported model disagrees with PyTorch by {difference:.2e} (> 1e-4); "
                            "do not use it, and report the model architecture")


def check_onnx_export(args: argparse.Namespace, module, model_file: Path, paths: list[Path] | None,
                      ensemble=None) -> None:
    """Compare the ONNX file with predict.py on real images: the --images given, else the run's held-out images.

    Raises:
        UserError: the export disagrees beyond :data:`~litcls.inference.onnx_parity.MIN_AGREEMENT` or
            :data:`~litcls.inference.onnx_parity.MAX_MEAN_DIFFERENCE`.
    """
    from litcls.inference.ensemble import member_paths
    from litcls.inference.onnx_parity import (
        MAX_MEAN_DIFFERENCE,
        MIN_AGREEMENT,
        acceptable,
        compare_with_predict,
        describe,
    )
    from litcls.runs.finished_folder import held_out_images, run_folder_of

    source = "the --images"
    if paths is None:
        first = module[0] if isinstance(module, list) else None
        checkpoint = member_paths(args.ckpt)[0] if first is not None else resolve_checkpoint(args.ckpt[0])
        run_dir = run_folder_of(checkpoint.parent.parent if first is not None else args.ckpt[0], checkpoint)
        examples, why = held_out_images(run_dir, PARITY_IMAGES) if run_dir else ([], "--ckpt is not in a run folder")
        paths, source = [path for path, _ in examples], "the run's held-out images"
        if not paths:
            print(f"warning: the export was not checked on images ({why}); give --images with a few of yours to "
                  "check it")
            return
    result = compare_with_predict(module, model_file, paths[:PARITY_IMAGES], calibrated=not args.no_calibration,
                                  batch_size=args.batch_size, ensemble=ensemble)
    print(describe(result) + f" ({source})")
    if result["images"] and not acceptable(result):
        raise UserError(f"the exported model agrees with predict.py on {result['agreement']:.1%} of decisions "
                        f"(mean probability difference {result['mean_difference']:.3f}); below {MIN_AGREEMENT:.0%} "
                        f"or above {MAX_MEAN_DIFFERENCE}: do not use it, and report the model architecture")


def images_to_predict(args: argparse.Namespace, class_names: list[str]):
    """The image paths, their labels (indexes into the checkpoint's classes, or None) and how many are labelled:
    from one manifest (its label column) or from files and folders (class-named folders)."""
    from litcls.data.manifest import is_manifest, manifest_images
    from litcls.inference.predictor import find_images, folder_labels

    if len(args.images) == 1 and is_manifest(args.images[0]):
        label_col = args.label_col or "label"
        paths, names = manifest_images(args.images[0], args.path_col, label_col, args.image_root,
                                       label_optional=args.label_col is None)
        if names is None:
            return paths, None, 0
        unknown = sorted(set(names) - set(class_names))
        if unknown:
            raise UserError(f"--label-col {label_col}: {args.images[0]} has classes the checkpoint does not know: "
                            f"{', '.join(unknown[:10])}; its classes are {', '.join(class_names)}")
        return paths, [class_names.index(name) for name in names], len(paths)
    if args.label_col or args.image_root or args.path_col != "path":
        raise UserError("--path-col, --label-col and --image-root apply to a CSV or TSV manifest given as the only "
                        "--images argument")
    paths = find_images(args.images)
    labels, labelled = folder_labels(paths, class_names)
    return paths, labels, labelled


def describe_decision(module, calibrated: bool, members: int = 1, ensemble=None) -> None:
    """Say which probabilities are reported and, for a two-class checkpoint, how a prediction is made."""
    from litcls.inference.predictor import decision_rule

    if members > 1:
        how = (f"calibrated with temperature {ensemble.temperature:.3f} on the log of that mean, from "
               f"{ensemble.source}" if calibrated and ensemble else ensemble.source if ensemble else "")
        print(f"probabilities: the ensemble of {members} members: {how}")
        if ensemble and ensemble.operating is not None:
            positive, threshold = ensemble.operating
            print(f"two classes: {module.class_names[positive]!r} is predicted when its probability is at least "
                  f"{threshold:.4g} (column predicted_at_threshold; predicted is the more probable class)")
        return
    decision = module.decision
    if module.task.multi_hot:
        kind = "calibrated per label by the temperatures" if calibrated and "temperatures" in decision else "own"
        rule = decision.get("threshold_rule")
        print(f"probabilities: the model's {kind} (one sigmoid per label); pred_<label> is 1 where the probability "
              + (f"reaches the label's threshold chosen on the validation split by {rule}" if rule else
                 "reaches 0.5 (this checkpoint holds no thresholds)"))
        return
    temperature, operating = decision_rule(module, calibrated)
    if "temperature" not in decision:
        print("probabilities: the model's own (this checkpoint holds no calibration)")
    elif calibrated:
        print(f"probabilities: calibrated with temperature {temperature:.3f}, fitted on the training run's validation "
              "split (--no-calibration for the model's own)")
    else:
        print("probabilities: the model's own (--no-calibration)")
    if operating is not None:
        positive, threshold = operating
        print(f"two classes: {module.class_names[positive]!r} is predicted when its probability is at least "
              f"{threshold:.4g}, the operating threshold chosen on the validation split by "
              f"{decision['threshold_rule']} (column predicted_at_threshold; predicted is the more probable class)")


def describe_labels(table, images: int, labelled: int, source: str) -> None:
    """Accuracy when every image sits in a folder named after its class; otherwise say why there is none."""
    read = table[table["error"] == ""]
    if "correct" in table and len(read):
        line = f"accuracy {read['correct'].astype(bool).mean():.4f} on {len(read)} images labelled by {source}"
        if "predicted_at_threshold" in read:
            line += f"; at the operating threshold {(read['predicted_at_threshold'] == read['class']).mean():.4f}"
        print(line + " (columns label, class, loss, correct)")
    elif labelled:
        print(f"no accuracy: {labelled} of {images} images sit in folders named after the checkpoint's classes; "
              "every image must, for its folder to be its label")


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    one_line_warnings()
    run(build_parser().parse_args(argv))
    return 0
