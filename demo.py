"""Try a trained model in the browser: ``python demo.py --ckpt runs/<name>``; ``--help`` lists the flags."""

import sys

from litcls.cli.demo import main

if __name__ == "__main__":
    sys.exit(main())
