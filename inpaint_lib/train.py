"""``python -m inpaint_lib.train``: the training command line (its code is :mod:`inpaint_lib.training.__main__`)."""

import sys

from .training.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
