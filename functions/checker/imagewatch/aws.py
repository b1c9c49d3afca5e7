"""boto3 clients, created once per container and only for the services a run uses.

Creating a client costs tens of milliseconds and reads configuration files; a warm Lambda container
reuses them across invocations. ``AWS_ENDPOINT_URL`` (boto3's own setting) points them at a stand-in
such as a moto server in tests.
"""

from __future__ import annotations

import threading
from typing import Any

_CLIENTS: dict[str, Any] = {}
_LOCK = threading.Lock()


def client(service: str) -> Any:
    """The container's client for ``service`` (standard retry mode, bounded timeouts)."""
    with _LOCK:
        if service not in _CLIENTS:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20
            )
            _CLIENTS[service] = boto3.session.Session().client(service, config=config)
        return _CLIENTS[service]


def reset() -> None:
    """Forget every client (tests that point at a new endpoint)."""
    with _LOCK:
        _CLIENTS.clear()
