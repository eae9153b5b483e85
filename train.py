"""Train an image classifier: ``python train.py --help`` lists the flags."""

from litcls.cli.exit_codes import exit_process
from litcls.cli.train import main

if __name__ == "__main__":
    exit_process(main())
