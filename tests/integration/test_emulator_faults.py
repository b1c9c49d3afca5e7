"""Every fault mode, deterministic by count. Held requests are released with ``wake()``, never by sleeping."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from imagewatch.emulator import Emulator, Faults
from imagewatch.hss.auth import IamPasswordAuth, IamScope
from imagewatch.hss.errors import RecordError
from imagewatch.hss.model import parse_image
from support.emulator_support import HTTP, loopback_client

TOKEN = {"X-Auth-Token": "demo-token"}


def _get(emulator: Emulator, **params) -> httpx.Response:
    return HTTP.get(emulator.list_url, headers=TOKEN, params=params, timeout=10)


def _in_background(call) -> tuple[threading.Thread, list]:
    results: list = []
    thread = threading.Thread(target=lambda: results.append(call()))
    thread.start()
    return thread, results


def test_throttle_the_next_n_requests_with_retry_after(emulator: Emulator):
    emulator.faults.throttle(3, retry_after=2)
    answers = [_get(emulator) for _ in range(4)]
    assert [a.status_code for a in answers] == [429, 429, 429, 200]
    assert answers[0].json()["error_code"] == "APIG.0308"
    assert "ratelimit" in answers[0].json()["error_msg"]
    assert answers[0].headers["retry-after"] == "2"
    assert all(a.headers["x-request-id"] for a in answers)


def test_throttle_after_some_requests_without_retry_after(emulator: Emulator):
    emulator.faults.throttle(1, after=2)
    answers = [_get(emulator) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 429, 200]
    assert "retry-after" not in answers[2].headers


def test_throttle_until_cleared(emulator: Emulator):
    emulator.faults.throttle(times=None)
    assert [_get(emulator).status_code for _ in range(5)] == [429] * 5
    emulator.faults.clear()
    assert _get(emulator).status_code == 200


@pytest.mark.parametrize(
    ("status", "code"), [(500, "HSS.0500"), (502, "APIG.0201"), (503, "APIG.0201"), (504, "APIG.0203")]
)
def test_server_errors(emulator: Emulator, status, code):
    emulator.faults.error(status, times=2)
    answers = [_get(emulator) for _ in range(3)]
    assert [a.status_code for a in answers] == [status, status, 200]
    assert answers[0].json()["error_code"] == code


def test_faults_queue_in_the_order_armed(emulator: Emulator):
    emulator.faults.throttle(1)
    emulator.faults.error(502, 1)
    emulator.faults.reset(1, after=5)
    assert [_get(emulator).status_code for _ in range(3)] == [429, 502, 200]


def test_gateway_faults_come_before_authentication(emulator: Emulator):
    emulator.faults.throttle(1)
    assert HTTP.get(emulator.list_url).status_code == 429
    assert HTTP.get(emulator.list_url).status_code == 401


def test_slow_answer_trips_a_client_read_timeout(emulator: Emulator):
    emulator.faults.slow(delay_s=60)
    with pytest.raises(httpx.ReadTimeout):
        HTTP.get(emulator.list_url, headers=TOKEN, timeout=httpx.Timeout(5, read=0.2))
    emulator.wake()  # release the held request
    assert _get(emulator).status_code == 200
    emulator.wait_for(lambda s: s.in_flight == 0)


def test_slow_answer_is_a_normal_answer_once_released(emulator: Emulator):
    emulator.faults.slow(delay_s=60)
    thread, results = _in_background(lambda: _get(emulator, limit=20))
    emulator.wait_for(lambda s: s.in_flight == 1)
    emulator.wake()
    thread.join()
    assert results[0].status_code == 200
    assert len(results[0].json()["data_list"]) == 20


def test_latency_holds_every_request(emulator: Emulator):
    emulator.faults.latency_ms = 60_000
    thread, results = _in_background(lambda: _get(emulator))
    emulator.wait_for(lambda s: s.in_flight == 1)
    assert not results
    emulator.faults.latency_ms = 0
    emulator.wake()
    thread.join()
    assert results[0].status_code == 200


def test_concurrent_requests_are_served_together_and_counted(emulator: Emulator):
    emulator.faults.slow(delay_s=60, times=3)
    threads = [_in_background(lambda: _get(emulator)) for _ in range(3)]
    emulator.wait_for(lambda s: s.in_flight == 3)
    emulator.wake()
    for thread, _ in threads:
        thread.join()
    assert [results[0].status_code for _, results in threads] == [200, 200, 200]
    assert emulator.stats.max_in_flight == 3


def test_stop_releases_held_requests(emulator_fleet, emulator_clock):
    emu = Emulator(emulator_fleet, clock=emulator_clock).start()
    emu.faults.slow(delay_s=600)
    thread, _ = _in_background(lambda: _answer_or_error(emu))
    emu.wait_for(lambda s: s.in_flight == 1)
    emu.stop()
    thread.join(timeout=30)
    assert not thread.is_alive()


def _answer_or_error(emu: Emulator) -> httpx.Response | httpx.HTTPError:
    try:
        return HTTP.get(emu.list_url, headers=TOKEN, timeout=30)
    except httpx.HTTPError as exc:
        return exc


def test_malformed_json_body(emulator: Emulator):
    emulator.faults.malformed(1, after=1)
    first, second, third = (_get(emulator) for _ in range(3))
    assert first.json()["data_list"]
    assert second.status_code == 200 and second.headers["x-request-id"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(second.content)
    assert third.json()["data_list"]


def test_schema_breaking_record_at_an_offset(emulator: Emulator):
    emulator.faults.corrupt(offset=12, field="vul_num", value="many")
    untouched = _get(emulator, offset=0, limit=10).json()["data_list"]
    assert all(isinstance(r["vul_num"], int) for r in untouched)
    broken = _get(emulator, offset=10, limit=10).json()["data_list"]
    assert broken[2]["vul_num"] == "many"
    with pytest.raises(RecordError, match="vul_num"):
        parse_image(broken[2], offset=12)
    for position, record in enumerate(broken):
        if position != 2:
            parse_image(record)
    again = _get(emulator, offset=10, limit=10).json()["data_list"]
    assert isinstance(again[2]["vul_num"], int)  # times=1: used up


def test_whole_record_replaced(emulator: Emulator):
    emulator.faults.corrupt(offset=0, field=None, value="not an object", times=None)
    for _ in range(2):
        assert _get(emulator).json()["data_list"][0] == "not an object"


def test_token_expires_after_k_requests(emulator: Emulator):
    emulator.faults.expire_token_after(2)
    token, _ = emulator.auth.issue()
    answers = [HTTP.get(emulator.list_url, headers={"X-Auth-Token": token}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 401]
    assert answers[2].json()["error_code"] == "APIG.0307"
    assert "token expires" in answers[2].json()["error_msg"]
    fresh, _ = emulator.auth.issue()
    assert HTTP.get(emulator.list_url, headers={"X-Auth-Token": fresh}).status_code == 200


def test_our_iam_client_recovers_from_an_expired_token(emulator: Emulator):
    emulator.faults.expire_token_after(1)
    auth = IamPasswordAuth(
        emulator.url, "demo-user", "demo-password", "demo-domain", IamScope(project_name="cn-north-4"),
        clock=emulator.clock,
    )  # fmt: skip
    with loopback_client(auth=auth) as client:
        assert [client.get(emulator.list_url).status_code for _ in range(3)] == [200, 200, 200]
    assert emulator.auth.tokens_issued == 2
    assert emulator.stats.by_status == {200: 3, 201: 2, 401: 1}


def test_insert_between_pages_shifts_offsets(emulator: Emulator):
    params = {"has_vul": "true", "limit": 10}
    before = emulator.fleet.listing({"has_vul": True})
    emulator.faults.mutate_after(1, insert=3)
    first = _get(emulator, offset=0, **params).json()
    second = _get(emulator, offset=10, **params).json()
    assert first["data_list"] == before[:10]
    assert second["total_num"] == first["total_num"] + 3
    assert second["data_list"] == before[7:17]  # three records seen again
    clones = emulator.fleet.listing({"has_vul": True})[:3]
    assert [c["host_id"] for c in clones] == [r["host_id"] for r in before[:3]]
    assert {c["image_id"] for c in clones}.isdisjoint(r["image_id"] for r in before)
    assert all(c["vul_num"] > 0 for c in clones)


def test_delete_between_pages_shifts_offsets(emulator: Emulator):
    before = emulator.fleet.listing({})
    emulator.faults.mutate_after(1, delete=4)
    first = _get(emulator, offset=0, limit=10).json()
    second = _get(emulator, offset=10, limit=10).json()
    assert first["data_list"] == before[:10]
    assert second["total_num"] == first["total_num"] - 4
    assert second["data_list"] == before[14:24]  # four records never seen


def test_mutation_fires_after_the_kth_answer(emulator: Emulator):
    emulator.faults.mutate_after(3, delete=1)
    totals = [_get(emulator).json()["total_num"] for _ in range(4)]
    assert totals[0] == totals[1] == totals[2] == totals[3] + 1


def test_connection_reset_without_an_answer(emulator: Emulator):
    emulator.faults.reset(2, after=1)
    assert _get(emulator).status_code == 200
    for _ in range(2):
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
            _get(emulator)
    assert _get(emulator).status_code == 200
    stats = emulator.stats
    assert stats.by_route["list"] == 4 and stats.by_status == {200: 2}


def test_reset_on_a_kept_alive_connection(emulator: Emulator):
    with loopback_client(headers=TOKEN) as client:
        assert client.get(emulator.list_url).status_code == 200
        emulator.faults.reset()
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.get(emulator.list_url)
        assert client.get(emulator.list_url).status_code == 200


def test_iam_faults_are_counted_separately(emulator: Emulator):
    emulator.faults.throttle(1, target="iam")
    emulator.faults.error(503, 1, target="iam")
    iam = f"{emulator.url}/v3/auth/tokens"
    assert _get(emulator).status_code == 200
    assert HTTP.post(iam, content=b"{}").status_code == 429
    assert HTTP.post(iam, content=b"{}").status_code == 503
    assert HTTP.post(iam, content=b"{}").status_code == 400


def test_faults_armed_from_json_specs():
    plan = Faults()
    plan.arm({"kind": "throttle", "times": 2, "retry_after": 3})
    plan.arm({"kind": "error", "status": 504})
    plan.arm({"kind": "corrupt", "offset": 5, "field": "image_size", "value": -1})
    plan.arm({"kind": "mutate_after", "requests": 2, "insert": 1})
    plan.arm({"kind": "expire_token_after", "requests": 4})
    plan.arm({"kind": "latency", "ms": 25})
    assert plan.pending() == [
        {"kind": "throttle", "after": 0, "times": 2, "target": "list", "retry_after": 3},
        {"kind": "error", "after": 0, "times": 1, "target": "list", "status": 504},
        {"kind": "corrupt", "offset": 5, "field": "image_size", "value": -1, "times": 1},
        {"kind": "mutate_after", "requests": 2, "insert": 1, "delete": 0},
        {"kind": "expire_token_after", "requests": 4},
    ]
    assert plan.latency_ms == 25
    replayed = Faults()
    for spec in plan.pending():
        replayed.arm(spec)
    assert replayed.pending() == plan.pending()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "explode"}, "fault kind: got 'explode'"),
        ({"kind": "error", "status": 418}, "fault status: got 418"),
        ({"kind": "throttle", "times": 0}, "fault times: got 0"),
        ({"kind": "slow", "delay_s": -1}, "fault delay_s: got -1"),
        ({"kind": "throttle", "target": "s3"}, "fault target: got 's3'"),
        ({"kind": "reset", "color": "red"}, "fault reset"),
    ],
)
def test_bad_fault_specs_say_what_is_wrong(spec, message):
    with pytest.raises(ValueError, match=message):
        Faults().arm(spec)


def test_started_with_faults_from_the_constructor(emulator_fleet, emulator_clock):
    plan = Faults()
    plan.error(502, times=1)
    with Emulator(emulator_fleet, faults=plan, clock=emulator_clock) as emu:
        assert [_get(emu).status_code for _ in range(2)] == [502, 200]
