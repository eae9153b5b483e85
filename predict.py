"""Predict new images with a trained checkpoint: ``python predict.py --help`` lists the flags."""

from litcls.cli.exit_codes import exit_process
from litcls.cli.predict import main

if __name__ == "__main__":
    exit_process(main())
