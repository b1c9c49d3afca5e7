"""ListImageLocal over real HTTP: paging, defaults, bounds (HSS.0001), routes, X-Request-Id everywhere."""

from __future__ import annotations

import httpx
import pytest

from imagewatch.emulator import Emulator
from imagewatch.hss.model import IMAGE_FIELDS, parse_image
from imagewatch.hss.query import MAX_TIMESTAMP_MS
from support.emulator_support import HTTP, list_all


def test_default_page_is_ten_records_of_the_default_project(emulator: Emulator, emulator_http: httpx.Client):
    answer = emulator_http.get(emulator.list_url)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["total_num"] == emulator.fleet.total({"enterprise_project_id": "0"})
    assert 0 < body["total_num"] < len(emulator.fleet)  # other projects exist and are not listed
    assert body["data_list"] == emulator.fleet.page({}, 0, 10)[1]
    for record in body["data_list"]:
        image = parse_image(record)
        assert set(record) <= set(IMAGE_FIELDS)
        assert image.host_id and image.agent_id and image.image_id


def test_paging_with_limit_200_returns_the_whole_listing_in_order(emulator: Emulator, emulator_http):
    params = {"enterprise_project_id": "all_granted_eps"}
    records = list_all(emulator_http, emulator.list_url, params)
    assert records == emulator.fleet.listing(None)
    assert len({parse_image(r).identity for r in records}) == len(emulator.fleet)


def test_offset_past_the_end_is_an_empty_page_with_the_total(emulator: Emulator, emulator_http):
    body = emulator_http.get(emulator.list_url, params={"offset": 100_000, "limit": 50}).json()
    assert body == {"total_num": emulator.fleet.total({}), "data_list": []}


LONG = "x" * 300


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("limit", "9"),
        ("limit", "201"),
        ("limit", "ten"),
        ("offset", "-1"),
        ("offset", "2000001"),
        ("offset", "1.5"),
        ("image_name", ""),
        ("image_name", "n" * 129),
        ("image_version", "v" * 65),
        ("scan_status", "waiting"),
        ("scan_status", "done"),
        ("local_image_type", "docker_hub"),
        ("image_size", "-1"),
        ("image_size", "2147483548"),
        ("start_latest_update_time", str(MAX_TIMESTAMP_MS + 1)),
        ("end_latest_update_time", "-5"),
        ("start_latest_scan_time", "yesterday"),
        ("end_latest_scan_time", str(MAX_TIMESTAMP_MS + 1)),
        ("has_vul", "yes"),
        ("has_container", "1"),
        ("enterprise_project_id", ""),
        ("enterprise_project_id", "e" * 257),
        ("host_name", LONG),
        ("host_id", LONG),
        ("host_ip", LONG),
        ("container_id", LONG),
        ("container_name", LONG),
        ("pod_id", LONG),
        ("pod_name", LONG),
        ("app_name", LONG),
    ],
)
def test_out_of_bounds_or_malformed_parameter_is_hss_0001_naming_it(
    emulator: Emulator, emulator_http, name, value
):
    answer = emulator_http.get(emulator.list_url, params={name: value})
    assert answer.status_code == 400
    assert answer.headers["x-request-id"]
    body = answer.json()
    assert body["error_code"] == "HSS.0001"
    assert repr(name) in body["error_msg"]
    assert value[:40] in body["error_msg"]
    assert "expected" in body["error_msg"]


def test_time_windows_accept_millisecond_timestamps_up_to_the_record_bound(emulator: Emulator, emulator_http):
    params = {
        "start_latest_update_time": 1,
        "end_latest_update_time": MAX_TIMESTAMP_MS,
        "start_latest_scan_time": 2_147_483_548,  # above the page's stated bound, still accepted
        "end_latest_scan_time": MAX_TIMESTAMP_MS,
    }
    answer = emulator_http.get(emulator.list_url, params=params)
    assert answer.status_code == 200
    assert answer.json()["total_num"] > 0


def test_unknown_parameters_are_ignored(emulator: Emulator, emulator_http):
    plain = emulator_http.get(emulator.list_url, params={"limit": 50}).json()
    extra = emulator_http.get(emulator.list_url, params={"limit": 50, "sort_key": "vul_num", "x": "1"}).json()
    assert extra == plain


def test_a_parameter_given_twice_is_refused(emulator: Emulator, emulator_http):
    answer = emulator_http.get(emulator.list_url + "?limit=10&limit=20")
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "HSS.0001"
    assert "'limit'" in answer.json()["error_msg"]


def test_another_project_is_access_denied(emulator: Emulator, emulator_http):
    answer = emulator_http.get(f"{emulator.url}/v5/other-project/image/local-repositories")
    assert answer.status_code == 403
    assert answer.json()["error_code"] == "HSS.0010"
    assert "other-project" in answer.json()["error_msg"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v5/demo-project/image/remote-repositories"),
        ("GET", "/v5//image/local-repositories"),
        ("POST", "/v5/demo-project/image/local-repositories"),
        ("GET", "/"),
    ],
)
def test_unknown_routes_are_apig_0101(emulator: Emulator, emulator_http, method, path):
    answer = emulator_http.request(method, emulator.url + path)
    assert answer.status_code == 404
    assert answer.json()["error_code"] == "APIG.0101"
    assert answer.headers["x-request-id"]


def test_every_answer_carries_a_distinct_request_id(emulator: Emulator, emulator_http):
    emulator.faults.throttle()
    emulator.faults.error(500, after=1)
    answers = [
        emulator_http.get(emulator.list_url),  # 429
        emulator_http.get(emulator.list_url),  # 500
        emulator_http.get(emulator.list_url),  # 200
        emulator_http.get(emulator.list_url, params={"limit": 1}),  # 400
        HTTP.get(emulator.list_url),  # 401
        emulator_http.get(f"{emulator.url}/v5/nope/image/local-repositories"),  # 403
        emulator_http.get(f"{emulator.url}/nowhere"),  # 404
        HTTP.post(f"{emulator.url}/v3/auth/tokens", content=b"{}"),  # 400 (IAM)
        HTTP.get(f"{emulator.url}/_emulator/stats"),  # control
    ]
    assert [a.status_code for a in answers] == [429, 500, 200, 400, 401, 403, 404, 400, 200]
    ids = [a.headers.get("x-request-id") for a in answers]
    assert all(ids) and len(set(ids)) == len(ids)


def test_protocol_errors_are_json_with_a_request_id(emulator: Emulator):
    answer = HTTP.request("PATCH", emulator.list_url)
    assert answer.status_code == 501
    assert answer.json()["error_code"] == "HSS.0002"
    assert answer.headers["x-request-id"]


def test_stats_count_requests_per_path_route_and_status(emulator: Emulator, emulator_http):
    emulator_http.get(emulator.list_url)
    emulator_http.get(emulator.list_url, params={"limit": 3})
    emulator_http.get(f"{emulator.url}/nowhere")
    stats = emulator.stats
    assert stats.requests == 3
    assert stats.by_path == {f"/v5/{emulator.project_id}/image/local-repositories": 2, "/nowhere": 1}
    assert stats.by_route == {"list": 2, "unknown": 1}
    assert stats.by_status == {200: 1, 400: 1, 404: 1}
    assert stats.in_flight == 0 and stats.max_in_flight == 1
    emulator.reset_stats()
    assert emulator.stats.requests == 0


def test_control_endpoint_reports_stats_and_arms_faults(emulator: Emulator, emulator_http):
    emulator_http.get(emulator.list_url)
    stats = HTTP.get(f"{emulator.url}/_emulator/stats").json()
    assert stats["by_route"] == {"list": 1, "control": 1}
    armed = HTTP.post(f"{emulator.url}/_emulator/faults", json=[{"kind": "throttle", "times": 2}])
    assert armed.status_code == 200
    assert [(f["kind"], f["times"]) for f in armed.json()["faults"]] == [("throttle", 2)]
    assert [emulator_http.get(emulator.list_url).status_code for _ in range(3)] == [429, 429, 200]
    bad = HTTP.post(f"{emulator.url}/_emulator/faults", json={"kind": "explode"})
    assert bad.status_code == 400 and "explode" in bad.json()["error_msg"]
    emulator.faults.throttle(times=None)
    assert HTTP.delete(f"{emulator.url}/_emulator/faults").json() == {"faults": []}
    assert emulator_http.get(emulator.list_url).status_code == 200
