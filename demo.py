"""Try a trained model in the browser: ``python demo.py --ckpt runs/<name>``; ``--help`` lists the flags."""

from litcls.cli.demo import main
from litcls.cli.exit_codes import exit_process

if __name__ == "__main__":
    exit_process(main())
