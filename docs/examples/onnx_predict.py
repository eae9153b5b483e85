"""Predict with a model exported by ``predict.py --export onnx``, using only ONNX Runtime, Pillow and NumPy.

    python docs/examples/onnx_predict.py exported/model.onnx photo.jpg other.png

Everything else comes from the file: the graph resizes and normalises the pixels itself and returns calibrated
probabilities; the class names and, for two classes, the operating threshold (multi-label: each label's threshold)
are in its metadata. The only step
left to you is decoding, done here as training decodes (EXIF orientation, transparency on white, JPEG draft, and
grey for a model trained with ``--in-chans 1``; litcls also stretches 16-bit greyscale to 8 bits, which this short
example leaves out).
"""

import json
import sys

import numpy as np
import onnxruntime
from PIL import Image, ImageOps


def decode(path: str, preprocessing: dict) -> np.ndarray:
    """An image file as uint8 pixels, decoded as litcls decodes it for training: RGB (height, width, 3), or grey
    (height, width) when the model takes one channel."""
    with Image.open(path) as image:
        # JPEG: decode at 1/2, 1/4 or 1/8 scale when still large
        image.draft(image.mode, (preprocessing["width"], preprocessing["height"]))
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        rgb = image.convert("RGB")
        return np.asarray(rgb.convert("L") if preprocessing.get("in_chans") == 1 else rgb)


def main(model_file: str, images: list[str]) -> None:
    session = onnxruntime.InferenceSession(model_file, providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    classes = json.loads(metadata["class_names"])
    preprocessing = json.loads(metadata["preprocessing"])
    decision = json.loads(metadata["decision"])
    if "thresholds" in decision:  # multi-label: every label whose probability reaches its own threshold
        print("path,labels")
        for path in images:
            probabilities = session.run(None, {"pixels": decode(path, preprocessing)[None]})[0][0]
            called = [name for name, p in zip(classes, probabilities, strict=True) if p >= decision["thresholds"][name]]
            print(f"{path},{'|'.join(called)}")
        return
    print("path,predicted,probability")
    for path in images:
        probabilities = session.run(None, {"pixels": decode(path, preprocessing)[None]})[0][0]  # one image: sizes differ
        best = int(probabilities.argmax())
        if "operating_threshold" in decision:  # two classes: the threshold chosen on the validation split
            positive = classes.index(decision["positive_class"])
            best = positive if probabilities[positive] >= decision["operating_threshold"] else 1 - positive
        print(f"{path},{classes[best]},{probabilities[best]:.6f}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
