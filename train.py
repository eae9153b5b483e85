"""Train an image classifier: ``python train.py --help`` lists the flags."""

import sys

from litcls.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
