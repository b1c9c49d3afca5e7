"""Helpers for tests against the HSS emulator: a hand-driven clock and the official SDK as a client.

``huaweicloudsdkcore`` is imported lazily: importing it writes ``~/.huaweicloud``, and tests/conftest.py
points HOME at a temporary folder first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

NOW = 1_760_000_000.0  # 2025-10-09T08:53:20Z: the emulator clock's start in tests
NOW_MS = int(NOW * 1000)


def loopback_client(**options: Any) -> httpx.Client:
    """An httpx client for plain HTTP on 127.0.0.1: no CA bundle to load (20 ms per client saved)."""
    return httpx.Client(verify=False, timeout=10, **options)


HTTP = loopback_client()  # shared by tests that send one-off requests without default headers


class ManualClock:
    """A clock that only moves when told: ``clock.advance(900)``."""

    def __init__(self, start: float = NOW) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def sdk_date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%dT%H%M%SZ")


def sdk_signed(
    emulator: Any,
    query: list[tuple[str, Any]],
    *,
    ak: str = "DEMOAK",
    sk: str = "demo-secret",
    date: str | None = None,
    path: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """(url, headers) of a ListImageLocal GET signed by huaweicloudsdkcore's Signer (the oracle)."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.sdk_request import SdkRequest
    from huaweicloudsdkcore.signer.signer import Signer

    host = f"127.0.0.1:{emulator.port}"
    headers = {
        "X-Sdk-Date": date or sdk_date(emulator.clock()),
        "Content-Type": "application/json",
        "X-Project-Id": emulator.project_id,
        **(extra_headers or {}),
    }
    request = SdkRequest(
        method="GET",
        schema="http",
        host=host,
        resource_path=path or f"/v5/{emulator.project_id}/image/local-repositories",
        query_params=list(query),
        header_params=headers,
    )
    Signer(BasicCredentials(ak, sk)).sign(request)
    return f"http://{host}{request.uri}", dict(request.header_params)


def sdk_client(
    emulator: Any, ak: str = "DEMOAK", sk: str = "demo-secret", project_id: str | None = None
) -> Any:
    """The official ``HssClient`` pointed at the emulator (signs with SDK-HMAC-SHA256)."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkhss.v5 import HssClient

    config = HttpConfig.get_default_config()
    config.timeout = (5, 10)
    credentials = BasicCredentials(ak, sk, project_id or emulator.project_id)
    return (
        HssClient.new_builder()
        .with_credentials(credentials)
        .with_http_config(config)
        .with_endpoint(emulator.url)
        .build()
    )


def list_all(client: httpx.Client, url: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Page a ListImageLocal listing to its end with limit 200 (plain httpx; the client sets auth)."""
    records: list[dict[str, Any]] = []
    while True:
        page = client.get(url, params={**(params or {}), "offset": len(records), "limit": 200})
        page.raise_for_status()
        body = page.json()
        records.extend(body["data_list"])
        if not body["data_list"] or len(records) >= body["total_num"]:
            return records
