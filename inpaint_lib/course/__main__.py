"""``python -m inpaint_lib.course {demo,list}``: see :mod:`inpaint_lib.course.demo`."""

import sys

from .demo import main

if __name__ == "__main__":
    sys.exit(main())
