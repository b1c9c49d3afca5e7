"""The official SDK (huaweicloudsdkhss HssClient, AK/SK-signed) pages the emulator's whole fleet.

An independent client proves the emulator speaks the real wire format: signing, query encoding, the
answer's shape and the error body. The SDK signs with the real time, so this emulator's clock is real.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from imagewatch.emulator import Emulator, Fleet
from support.emulator_support import NOW_MS, sdk_client


@pytest.fixture(scope="module")
def sdk_emulator() -> Iterator[Emulator]:
    with Emulator(Fleet.synthetic(3000, seed=21, now_ms=NOW_MS)) as emu:
        yield emu


def _page_all(client: Any, **filters: Any) -> list[dict[str, Any]]:
    from huaweicloudsdkhss.v5 import ListImageLocalRequest

    records: list[dict[str, Any]] = []
    offset = 0
    while True:
        answer = client.list_image_local(ListImageLocalRequest(limit=200, offset=offset, **filters))
        records.extend(
            {k: v for k, v in info.to_dict().items() if v is not None} for info in answer.data_list
        )
        offset += 200
        if offset >= answer.total_num:
            assert len(records) == answer.total_num
            return records


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"enterprise_project_id": "all_granted_eps"},
        {"has_vul": True},
        {"scan_status": "success"},
        {"image_name": "checkout"},
        {
            "enterprise_project_id": "all_granted_eps",
            "has_vul": True,
            "scan_status": "success",
            "image_name": "a",
        },
    ],
    ids=["no-filter", "all-projects", "has_vul", "success", "name", "combined"],
)
def test_sdk_pages_exactly_the_fleets_listing(sdk_emulator: Emulator, filters):
    client = sdk_client(sdk_emulator)
    received = _page_all(client, **filters)
    expected = sdk_emulator.fleet.listing(filters)
    assert len(expected) > 200 or filters.get("image_name") == "checkout"  # several pages in most cases
    assert received == expected


def test_sdk_reads_our_error_body_and_request_id(sdk_emulator: Emulator):
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
    from huaweicloudsdkhss.v5 import ListImageLocalRequest

    client = sdk_client(sdk_emulator)
    with pytest.raises(ClientRequestException) as bad:
        client.list_image_local(ListImageLocalRequest(limit=500))
    assert (bad.value.status_code, bad.value.error_code) == (400, "HSS.0001")
    assert "'limit'" in bad.value.error_msg and bad.value.request_id
    sdk_emulator.faults.throttle(1)
    with pytest.raises(ClientRequestException) as throttled:  # urllib3 turns a 429 into its own error
        client.list_image_local(ListImageLocalRequest(limit=10))
    assert throttled.value.status_code == 429
    assert len(client.list_image_local(ListImageLocalRequest(limit=10)).data_list) == 10


def test_sdk_with_a_wrong_secret_is_refused(sdk_emulator: Emulator):
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
    from huaweicloudsdkhss.v5 import ListImageLocalRequest

    with pytest.raises(ClientRequestException) as refused:
        sdk_client(sdk_emulator, sk="wrong").list_image_local(ListImageLocalRequest(limit=10))
    assert (refused.value.status_code, refused.value.error_code) == (401, "APIG.0301")
