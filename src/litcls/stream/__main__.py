"""Write a data source as a LitData stream: ``python -m litcls.stream --help`` lists the flags."""

import sys

from litcls.cli.stream import main

if __name__ == "__main__":
    sys.exit(main())
