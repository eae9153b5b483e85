"""``demo.py``: a run folder or checkpoint -> a local Gradio page to try the model on single images.

Everything that can be wrong with the command line (no checkpoint, someone else's checkpoint, a port in use)
is found before the page starts and ends the program with one line and exit code 2.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
from collections.abc import Sequence

from litcls.cli.exit_codes import one_line_errors
from litcls.errors import UserError
from litcls.inference.ensemble_calibration import run_folder
from litcls.quiet import one_line_warnings
from litcls.runs.finished_folder import held_out_images, member_checkpoints, resolve_checkpoint, run_folder_of

EXAMPLES = 8


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="demo.py",
        description="A local web page to try a trained model: upload an image or take one with the webcam, see "
                    "the top classes and the Grad-CAM overlay. Predicts exactly as predict.py does.",
        epilog="Example: python demo.py --ckpt runs/pets-cnn   (then open http://127.0.0.1:7860)",
    )
    parser.add_argument("--ckpt", required=True, metavar="RUN_OR_CKPT",
                        help="a run folder (its checkpoints/best.ckpt is used; its test images become examples) "
                             "or a checkpoint (.ckpt) written by train.py; a k-fold or seeds run folder predicts "
                             "with the ensemble of its members, calibrated by its ensemble.json")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (default: 7860)")
    parser.add_argument("--share", action="store_true", help="also publish a temporary public link via Gradio")
    parser.add_argument("--top-k", type=int, default=5, help="classes shown as bars (default: 5)")
    parser.add_argument("--gradcam-layer", help="layer to explain, e.g. model.features.7 (default: automatic)")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="allow a checkpoint holding arbitrary Python objects (can run code: only yours)")
    return parser


def check_port_free(host: str, port: int) -> None:
    """Fail before the slow start-up, with the port named, rather than with Gradio's error after it."""
    if not 0 < port < 65536:
        raise UserError(f"--port {port}: give a port between 1 and 65535")
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise UserError(f"--port {port}: already in use on {host}; pick another with --port") from None
        reason = os.strerror(err.errno) if err.errno else str(err)
        raise UserError(f"--host {host} --port {port}: cannot listen there ({reason})") from None


def run(args: argparse.Namespace) -> None:
    if args.top_k < 1:
        raise UserError("--top-k must be at least 1")
    check_port_free(args.host, args.port)  # before the imports: a taken port is known in a fraction of a second

    ensemble_run = run_folder([args.ckpt])  # a k-fold or seeds run: the ensemble of its members
    checkpoint = member_checkpoints(args.ckpt)[0] if ensemble_run else resolve_checkpoint(args.ckpt)  # before imports

    from litcls.inference.ensemble import load_ensemble
    from litcls.inference.predictor import gradcam_target

    members, ensemble = load_ensemble([args.ckpt], trust=args.trust_checkpoint)
    module = members[0]
    if module.task.multi_hot and len(members) > 1:
        raise UserError(f"--ckpt {args.ckpt}: an ensemble of multi-label checkpoints is not supported yet; give one "
                        "fold's run folder")
    # an ensemble has no single network to explain: bars only, as for linear and mlp
    target = gradcam_target(module, args.gradcam_layer) if len(members) == 1 else None
    run_dir = run_folder_of(args.ckpt, checkpoint)
    if ensemble_run and run_dir is None:  # a seeds run: its members hold the split
        run_dir = run_folder_of(checkpoint.parent.parent, checkpoint)
    examples, missing = held_out_images(run_dir, EXAMPLES) if run_dir else ([], "")
    if missing:
        print(f"no example images: {missing}", file=sys.stderr)

    from litcls.cli.demo_page import CSS, build_app

    model = members if len(members) > 1 else module
    app = build_app(model, target, examples, ensemble_run or checkpoint, top_k=args.top_k, ensemble=ensemble)
    why = ("no Grad-CAM: an ensemble has no single network to explain" if len(members) > 1
           else "no Grad-CAM: the model has no convolution")
    print(f"demo of {ensemble_run or checkpoint} ({module.hparams.model}"
          f"{f', an ensemble of {len(members)}' if len(members) > 1 else ''}, {len(module.class_names)} "
          f"{'labels' if module.task.multi_hot else 'classes'}"
          f"{'' if target is not None else ', ' + why}); Ctrl+C stops it")
    try:
        # quiet: Gradio's own start-up lines name its Python arguments ("set `share=True` in `launch()`"); the
        # lines below name our flags. Its public URL, and why a public link failed, are printed regardless.
        app.launch(server_name=args.host, server_port=args.port, share=args.share, css=CSS, quiet=True,
                   prevent_thread_lock=True, allowed_paths=sorted({str(path.parent) for path, _ in examples}))
    except OSError as err:  # the port was taken between the check and the start
        raise UserError(f"--port {args.port}: {' '.join(str(err).split())}") from None
    print(f"* Running on local URL:  {app.local_url}")
    if app.share_url:
        print("* The public link is temporary: it lasts up to a week")
    elif not args.share:
        print("* To create a public link, add --share")
    sys.stdout.flush()
    app.block_thread()


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    one_line_warnings()
    run(build_parser().parse_args(argv))
    return 0
