"""A Lambda-like context for running the handler in-process (``imagewatch invoke``)."""

from __future__ import annotations

import time
import uuid

from msgspec import Struct, field


class LocalContext(Struct):
    """The attributes and the one method handlers read from AWS's context object."""

    function_name: str = "imagewatch-checker"
    memory_limit_in_mb: int = 512
    timeout_s: float = 900.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:imagewatch-checker"
    log_group_name: str = "/aws/lambda/imagewatch-checker"
    log_stream_name: str = "local"
    function_version: str = "$LATEST"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
