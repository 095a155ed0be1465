"""What the tests that drive headless Chromium share: whether they may skip, and a free port to serve on.

In CI (``INPAINT_REQUIRE_SITE=1``, set by .ci/run, which installs Debian's chromium and chromium-driver) a missing
browser fails the test; on a student's machine it skips it.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest

REQUIRED = os.environ.get("INPAINT_REQUIRE_SITE") == "1"


def need_chromium() -> None:
    """Return when chromium and chromedriver are on the PATH; otherwise fail (in CI) or skip."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    if REQUIRED:
        pytest.fail("INPAINT_REQUIRE_SITE=1 but chromium or chromedriver is missing (apt-get install chromium "
                    "chromium-driver)")
    pytest.skip("headless Chromium is not installed (apt-get install chromium chromium-driver)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
