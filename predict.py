"""Predict new images with a trained checkpoint: ``python predict.py --help`` lists the flags."""

import sys

from litcls.cli.predict import main

if __name__ == "__main__":
    sys.exit(main())
