"""Suite-wide setup.

HOME points at a fresh temporary folder for the whole run: importing ``huaweicloudsdkcore`` (our
oracle) writes ``~/.huaweicloud/application_id``, and no test may touch the real home.
"""

from __future__ import annotations

import os
import tempfile

os.environ["HOME"] = tempfile.mkdtemp(prefix="imagewatch-home-")
