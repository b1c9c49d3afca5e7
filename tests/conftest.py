"""Suite-wide setup.

HOME points at a fresh temporary folder for the whole run: importing ``huaweicloudsdkcore`` (our
oracle) writes ``~/.huaweicloud/application_id``, and no test may touch the real home. AWS settings
are cleared so no test can reach a real account.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from support.moto_support import MotoServer

os.environ["HOME"] = tempfile.mkdtemp(prefix="imagewatch-home-")
for _name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One real moto server on 127.0.0.1 for the whole session; tests create their own resources."""
    server = MotoServer().start()
    yield server
    server.stop()
