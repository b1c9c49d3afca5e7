"""boto3 clients, created once per container and only for the services a run uses.

Creating a client costs tens of milliseconds and reads configuration files; a warm Lambda container
reuses them across invocations. ``AWS_ENDPOINT_URL`` (boto3's own setting) points them at a stand-in
such as a moto server in tests.
"""

from __future__ import annotations

import threading
from typing import Any

_CLIENTS: dict[tuple[str, int, float, float], Any] = {}
_LOCK = threading.Lock()


def client(service: str, *, retries: int = 5, connect_timeout: float = 5, read_timeout: float = 20) -> Any:
    """The container's client for ``service`` (standard retry mode, bounded timeouts); a port that
    must bound each call tighter asks for fewer ``retries`` or shorter timeouts (a client of its own)."""
    key = (service, retries, connect_timeout, read_timeout)
    with _LOCK:
        if key not in _CLIENTS:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard", "max_attempts": retries},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
            )
            _CLIENTS[key] = boto3.session.Session().client(service, config=config)
        return _CLIENTS[key]


def reset() -> None:
    """Forget every client (tests that point at a new endpoint)."""
    with _LOCK:
        _CLIENTS.clear()
