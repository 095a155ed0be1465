"""``python -m inpaint_lib.course {demo,list,site,test}``: see :mod:`.demo`, :mod:`.site` and :func:`run_tests`.

``test`` is what ``make test`` runs, so that a machine without make (Windows) has the same command:
the unit tests, then the notebooks and solutions under nbval (their assert cells are the checks).
"""

import os
import subprocess
import sys

from .demo import main

# make test: every unit test (the slowest 15 listed), then every notebook and solution under nbval
TEST_COMMANDS = (["-m", "pytest", "tests", "--durations=15"],
                 ["-m", "pytest", "--nbval-lax", "notebooks", "solutions", "-p", "no:cacheprovider"])


def run_tests(extra: list[str]) -> int:
    """Run :data:`TEST_COMMANDS` with this interpreter, from the repository's root; stop at the first failure."""
    from ..utils import REPO_ROOT

    # no browser watches these runs: notebook 07 draws its figures statically instead of building live widgets
    env = {**os.environ, "INPAINT_STATIC": "1"}
    for arguments in TEST_COMMANDS:
        code = subprocess.run([sys.executable, *arguments, *extra], cwd=REPO_ROOT, env=env).returncode
        if code:
            return code
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["site"]:
        from .site import main as site_main
        sys.exit(site_main(sys.argv[2:]))
    if sys.argv[1:2] == ["test"]:
        sys.exit(run_tests(sys.argv[2:]))
    sys.exit(main())
