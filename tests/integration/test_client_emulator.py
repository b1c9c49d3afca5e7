"""Our ListImageLocal client against the emulator: every auth mode, every filter, every fault."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from imagewatch.emulator import Emulator, Fleet
from imagewatch.hss.auth import AkSkAuth, IamPasswordAuth, IamScope, TokenAuth
from imagewatch.hss.client import HssClient
from imagewatch.hss.errors import HssApiError, HssThrottledError, HssTransportError
from imagewatch.hss.query import ImageQuery
from imagewatch.retry import RetryPolicy
from support.emulator_support import NOW_MS, ManualClock

ALL = ImageQuery(enterprise_project_id="all_granted_eps")


class Sleeps(list):
    """A stand-in for time.sleep that records the delays asked for (no test ever waits)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_client(
    emulator: Emulator,
    clock: ManualClock,
    sleeps: Sleeps,
    auth: httpx.Auth | None = None,
    **options: object,
) -> HssClient:
    auth = auth or AkSkAuth("DEMOAK", "demo-secret", project_id=emulator.project_id, clock=clock)
    return HssClient(emulator.url, emulator.project_id, auth, sleep=sleeps, clock=clock, **options)


@pytest.fixture
def client(emulator: Emulator, emulator_clock: ManualClock, sleeps: Sleeps) -> Iterator[HssClient]:
    with make_client(emulator, emulator_clock, sleeps) as hss:
        yield hss


def records(listing: object) -> list[dict]:
    return [image.to_dict() for image in listing]  # type: ignore[attr-defined]


def expected(emulator: Emulator, query: ImageQuery) -> list[dict]:
    return emulator.fleet.listing(query.filters())


# -- complete reads under each auth mode ---------------------------------------------------------


def iam_auth(emulator: Emulator, clock: ManualClock) -> IamPasswordAuth:
    return IamPasswordAuth(
        emulator.url, "demo-user", "demo-password", "demo-domain", IamScope(emulator.project_id), clock=clock
    )


@pytest.mark.parametrize("mode", ["aksk", "token", "iam"])
def test_reads_the_whole_fleet_under_each_auth_mode(
    mode: str, emulator: Emulator, emulator_clock: ManualClock, sleeps: Sleeps
) -> None:
    auth = {
        "aksk": lambda: AkSkAuth(
            "DEMOAK", "demo-secret", project_id=emulator.project_id, clock=emulator_clock
        ),
        "token": lambda: TokenAuth("demo-token"),
        "iam": lambda: iam_auth(emulator, emulator_clock),
    }[mode]()
    with make_client(emulator, emulator_clock, sleeps, auth) as hss:
        listing = hss.list_images(ALL)
        got = records(listing)
    assert got == expected(emulator, ALL)
    assert len(got) == 600 and listing.complete and listing.stats.pages == 3
    assert sleeps == []


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"has_vul": True},
        {"has_vul": False, "enterprise_project_id": "all_granted_eps"},
        {"scan_status": "success"},
        {"scan_status": "waiting_for_scan", "enterprise_project_id": "all_granted_eps"},
        {"scan_status": "failed", "local_image_type": "other_image"},
        {"local_image_type": "swr_image", "has_container": True},
        {"image_name": "nginx"},
        {"image_version": "latest", "enterprise_project_id": "all_granted_eps"},
        {"image_size": 100_000_000},
        {"start_latest_scan_time": NOW_MS - 7 * 86_400_000, "end_latest_scan_time": NOW_MS},
        {"start_latest_update_time": NOW_MS - 30 * 86_400_000},
        {"host_name": "cce-node"},
        {"host_ip": "10.0.0.5"},
        {"app_name": "openssl"},
        {"pod_name": "api"},
        {"container_name": "web"},
    ],
)
def test_each_filter_reads_exactly_the_matching_records(
    client: HssClient, emulator: Emulator, filters: dict
) -> None:
    query = ImageQuery.from_mapping(filters)
    listing = client.list_images(query)
    assert records(listing) == expected(emulator, query)
    assert listing.complete


def test_agrees_with_the_official_sdk_record_for_record(client: HssClient, emulator: Emulator) -> None:
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkhss.v5 import HssClient as SdkClient
    from huaweicloudsdkhss.v5 import ListImageLocalRequest

    config = HttpConfig.get_default_config()
    config.timeout = (5, 10)
    sdk = (
        SdkClient.new_builder()
        .with_credentials(BasicCredentials("DEMOAK", "demo-secret", emulator.project_id))
        .with_http_config(config)
        .with_endpoint(emulator.url)
        .build()
    )
    emulator.clock.now = time.time()  # the SDK signs with the real clock; ours shares the emulator's
    for filters in (
        {"has_vul": True, "enterprise_project_id": "all_granted_eps"},
        {"scan_status": "success"},
    ):
        sdk_records, offset = [], 0
        while True:
            page = sdk.list_image_local(ListImageLocalRequest(limit=200, offset=offset, **filters))
            sdk_records += [item.to_dict() for item in page.data_list or []]
            offset += 200
            if offset >= page.total_num:
                break
        ours = records(client.list_images(ImageQuery.from_mapping(filters)))
        assert [{k: v for k, v in r.items() if v is not None} for r in sdk_records] == ours
        assert len(ours) > 50


# -- errors and faults ---------------------------------------------------------------------------


def test_wrong_secret_is_a_typed_error_without_retry_or_secret(
    emulator: Emulator, emulator_clock, sleeps
) -> None:
    auth = AkSkAuth("DEMOAK", "not-the-secret", project_id=emulator.project_id, clock=emulator_clock)
    with make_client(emulator, emulator_clock, sleeps, auth) as hss, pytest.raises(HssApiError) as caught:
        list(hss.list_images())
    error = caught.value
    assert (error.status, error.error_code, error.attempts) == (401, "APIG.0301", 1)
    assert error.request_id and error.request_id in str(error)
    assert "not-the-secret" not in str(error) and sleeps == []


def test_stale_signature_date_is_refused(emulator: Emulator, emulator_clock: ManualClock, sleeps) -> None:
    skewed = ManualClock(emulator_clock.now - 16 * 60)
    auth = AkSkAuth("DEMOAK", "demo-secret", project_id=emulator.project_id, clock=skewed)
    with make_client(emulator, emulator_clock, sleeps, auth) as hss, pytest.raises(HssApiError) as caught:
        hss.fetch_page(ImageQuery(), 0)
    assert caught.value.status == 401


def test_throttling_honours_retry_after_then_succeeds(client: HssClient, emulator: Emulator, sleeps) -> None:
    emulator.faults.throttle(times=2, retry_after=3)
    listing = client.list_images(ALL)
    assert records(listing) == expected(emulator, ALL)
    assert sleeps == [3.0, 3.0] and listing.stats.retries == 2 and listing.complete


def test_throttling_without_retry_after_waits_at_least_the_advised_floor(
    client: HssClient, emulator: Emulator, sleeps
) -> None:
    emulator.faults.throttle(times=3)
    assert len(records(client.list_images(ALL))) == 600
    assert len(sleeps) == 3 and all(2.0 <= s <= 2.0 + 20 for s in sleeps)


def test_persistent_throttling_gives_up_with_a_typed_error(emulator, emulator_clock, sleeps) -> None:
    emulator.faults.throttle(times=None)
    hss = make_client(emulator, emulator_clock, sleeps, retry=RetryPolicy(max_attempts=4))
    with hss, pytest.raises(HssThrottledError) as caught:
        hss.fetch_page(ImageQuery(), 0)
    assert (caught.value.status, caught.value.error_code, caught.value.attempts) == (429, "APIG.0308", 4)
    assert len(sleeps) == 3


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried_with_backoff(
    client: HssClient, emulator: Emulator, sleeps, status: int
) -> None:
    emulator.faults.error(status, times=2)
    listing = client.list_images(ALL)
    assert records(listing) == expected(emulator, ALL) and listing.complete
    assert len(sleeps) == 2 and all(0 <= s <= 20 for s in sleeps)


def test_internal_error_is_not_retried(client: HssClient, emulator: Emulator, sleeps) -> None:
    emulator.faults.error(500, times=1)
    with pytest.raises(HssApiError) as caught:
        list(client.list_images())
    assert caught.value.status == 500 and caught.value.attempts == 1 and sleeps == []


def test_connection_reset_is_retried(client: HssClient, emulator: Emulator, sleeps) -> None:
    emulator.faults.reset(times=2, after=1)
    listing = client.list_images(ALL)
    assert records(listing) == expected(emulator, ALL) and len(sleeps) == 2


def test_read_timeout_is_retried(emulator: Emulator, emulator_clock, sleeps) -> None:
    emulator.faults.slow(5.0, times=1)
    timeout = httpx.Timeout(connect=2.0, read=0.2, write=2.0, pool=2.0)
    with make_client(emulator, emulator_clock, sleeps, timeout=timeout) as hss:
        page = hss.fetch_page(ALL, 0)
    assert page.attempts == 2 and page.size == 200 and len(sleeps) == 1
    emulator.wake()


def test_malformed_json_is_retried_then_reported(emulator: Emulator, emulator_clock, sleeps) -> None:
    emulator.faults.malformed(times=1)
    with make_client(emulator, emulator_clock, sleeps) as hss:
        assert hss.fetch_page(ALL, 0).attempts == 2
        emulator.faults.malformed(times=None)
        with pytest.raises(HssTransportError, match=r"offset 0: no usable answer after 6 attempts.*not JSON"):
            hss.fetch_page(ALL, 0)


def test_wrong_typed_record_is_reported_and_makes_the_read_incomplete(client: HssClient, emulator) -> None:
    emulator.faults.corrupt(offset=205, field="vul_num", value="many")
    listing = client.list_images(ALL)
    got = records(listing)
    assert len(got) == 599 and not listing.complete
    [error] = listing.record_errors
    assert (error.field, error.value, error.offset) == ("vul_num", "'many'", 205)


def test_token_expiry_mid_run_is_refreshed_once(emulator: Emulator, emulator_clock, sleeps) -> None:
    auth = iam_auth(emulator, emulator_clock)
    emulator.faults.expire_token_after(1)
    with make_client(emulator, emulator_clock, sleeps, auth) as hss:
        listing = hss.list_images(ALL)
        assert records(listing) == expected(emulator, ALL)
    assert auth.tokens_fetched == 2 and listing.complete


def test_cached_token_is_renewed_before_it_expires(emulator: Emulator, emulator_clock, sleeps) -> None:
    auth = iam_auth(emulator, emulator_clock)
    with make_client(emulator, emulator_clock, sleeps, auth) as hss:
        hss.fetch_page(ALL, 0)
        hss.fetch_page(ALL, 200)
        assert auth.tokens_fetched == 1
        emulator_clock.advance(24 * 3600 - 200)  # within the 5-minute margin of expires_at
        hss.fetch_page(ALL, 0)
    assert auth.tokens_fetched == 2


def test_insert_between_pages_repeats_no_record_and_blocks_resolution(client: HssClient, emulator) -> None:
    before = {r["image_id"] + "@" + r["host_id"] for r in expected(emulator, ALL)}
    emulator.faults.mutate_after(1, insert=5)
    listing = client.list_images(ALL)
    identities = [image.identity for image in listing]
    assert len(identities) == len(set(identities))
    assert before <= set(identities)
    assert listing.stats.duplicates == 5
    assert not listing.complete and "total_num changed while paging (600 → 605)" in listing.problems[0]


def test_delete_between_pages_is_detected(client: HssClient, emulator) -> None:
    emulator.faults.mutate_after(1, delete=5)
    listing = client.list_images(ALL)
    list(listing)
    assert not listing.complete and "600 → 595" in listing.problems[0]


def test_inventory_over_the_offset_ceiling_is_read_to_the_ceiling_and_flagged(sleeps) -> None:
    clock = ManualClock()
    with (
        Emulator(Fleet.synthetic(2_000_450, seed=3, now_ms=NOW_MS), clock=clock) as big,
        make_client(big, clock, sleeps) as hss,
    ):
        listing = hss.list_images(ALL, start_offset=1_999_800)
        got = records(listing)
    assert len(got) == 400  # offsets 1,999,800 .. 2,000,199: the last page the API serves
    assert listing.stats.pages == 2 and not listing.complete
    assert "2000450 images" in listing.problems[0] and "unreachable" in listing.problems[0]


def test_query_bounds_are_checked_before_sending(client: HssClient, emulator: Emulator) -> None:
    emulator.reset_stats()
    with pytest.raises(ValueError, match="'offset': got 2000001"):
        client.list_images(start_offset=2_000_001)
    assert emulator.stats.requests == 0


def test_credentials_quoted_by_the_gateway_are_redacted(sleeps) -> None:
    """APIG quotes the AK in some refusals ("Get secretKey failed,ak:…"): it must not reach our errors."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class QuotingGateway(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(
                {
                    "error_code": "APIG.0301",
                    "error_msg": "Get secretKey failed,ak:AKQUOTED12345,sk:sk-quoted-999",
                }
            ).encode()
            self.send_response(401)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Request-Id", "req-1")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), QuotingGateway)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        auth = AkSkAuth("AKQUOTED12345", "sk-quoted-999", project_id="p")
        with HssClient(url, "p", auth, sleep=sleeps) as hss, pytest.raises(HssApiError) as caught:
            hss.fetch_page(ImageQuery(), 0)
    finally:
        server.shutdown()
        server.server_close()
    assert caught.value.error_msg == "Get secretKey failed,ak:***,sk:***"
    assert "AKQUOTED12345" not in str(caught.value) and "sk-quoted-999" not in str(caught.value)
