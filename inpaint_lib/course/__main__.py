"""``python -m inpaint_lib.course {demo,list,site}``: see :mod:`inpaint_lib.course.demo` and :mod:`.site`."""

import sys

from .demo import main

if __name__ == "__main__":
    if sys.argv[1:2] == ["site"]:
        from .site import main as site_main
        sys.exit(site_main(sys.argv[2:]))
    sys.exit(main())
