"""Every ListImageLocal filter, over HTTP, against an independent statement of its documented semantics.

Each case picks a value from the fleet's own data, lists through the emulator (all pages, limit 200),
and compares with a brute-force filter over every entry using the rule docs/emulator.md states.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from imagewatch.emulator import Emulator, Entry
from imagewatch.emulator.synthetic import EP_PLATFORM
from imagewatch.hss.model import parse_image
from support.emulator_support import NOW_MS, list_all

ALL = {"enterprise_project_id": "all_granted_eps"}
Rule = Callable[[Entry], bool]


def _first(entries: list[Entry], test: Callable[[Entry], bool]) -> Entry:
    return next(e for e in entries if test(e))


def _listed(emulator: Emulator, client, params: dict[str, Any]) -> set[str]:
    records = list_all(client, emulator.list_url, params)
    identities = [parse_image(r).identity for r in records]
    assert len(identities) == len(set(identities))
    return set(identities)


def _expected(entries: list[Entry], rule: Rule) -> set[str]:
    return {e.identity for e in entries if rule(e)}


def _case(entries: list[Entry], name: str) -> tuple[dict[str, Any], Rule]:
    """(query parameters, the documented rule) for one filter case, with a value taken from the fleet."""
    rec = lambda e, k: e.record.get(k)  # noqa: E731
    if name == "image_name substring, any case":
        word = str(rec(entries[0], "image_name")).rsplit("/", 1)[-1][:5].upper()
        return {"image_name": word}, lambda e: word.lower() in str(rec(e, "image_name")).lower()
    if name == "image_version substring":
        return {"image_version": "V1."}, lambda e: "v1." in str(rec(e, "image_version")).lower()
    if name == "image_size is a lower bound":
        sizes = sorted(int(rec(e, "image_size")) for e in entries)
        low = sizes[len(sizes) // 2]
        return {"image_size": low}, lambda e: rec(e, "image_size") >= low
    if name == "update window, inclusive both ends":
        times = sorted(int(rec(e, "latest_update_time")) for e in entries)
        lo, hi = times[len(times) // 4], times[3 * len(times) // 4]
        params = {"start_latest_update_time": lo, "end_latest_update_time": hi}
        return params, lambda e: lo <= rec(e, "latest_update_time") <= hi
    if name == "scan window, start only":
        lo = NOW_MS - 7 * 86_400_000
        return {"start_latest_scan_time": lo}, lambda e: rec(e, "latest_scan_time") >= lo
    if name == "scan window, end only (never scanned = 0 is included)":
        hi = NOW_MS - 30 * 86_400_000
        return {"end_latest_scan_time": hi}, lambda e: rec(e, "latest_scan_time") <= hi
    if name == "scan window, 0 on both sides is unbounded":
        return {"start_latest_scan_time": 0, "end_latest_scan_time": 0}, lambda e: True
    if name == "host_name substring, any case":
        host = str(rec(entries[5], "host_name"))
        part = host[-6:].upper()
        return {"host_name": part}, lambda e: part.lower() in str(rec(e, "host_name")).lower()
    if name == "host_id exact":
        host_id = str(rec(entries[3], "host_id"))
        return {"host_id": host_id}, lambda e: rec(e, "host_id") == host_id
    if name == "host_id prefix does not match":
        return {"host_id": str(rec(entries[3], "host_id"))[:8]}, lambda e: False
    if name == "host_ip exact, private":
        ip = entries[4].relations.host_ips[0]
        return {"host_ip": ip}, lambda e: ip in e.relations.host_ips
    if name == "host_ip exact, public":
        ip = _first(entries, lambda e: len(e.relations.host_ips) > 1).relations.host_ips[1]
        return {"host_ip": ip}, lambda e: ip in e.relations.host_ips
    if name == "host_ip partial does not match":
        return {"host_ip": "10.0.0"}, lambda e: "10.0.0" in e.relations.host_ips
    if name == "container_id exact":
        cid = _first(entries, lambda e: bool(e.relations.containers)).relations.containers[0][0]
        return {"container_id": cid}, lambda e: any(c == cid for c, _ in e.relations.containers)
    if name == "container_name substring":
        name_ = _first(entries, lambda e: bool(e.relations.containers)).relations.containers[0][1][:6].upper()
        return {"container_name": name_}, lambda e: any(
            name_.lower() in n.lower() for _, n in e.relations.containers
        )
    if name == "pod_id exact":
        pid = _first(entries, lambda e: bool(e.relations.pods)).relations.pods[0][0]
        return {"pod_id": pid}, lambda e: any(p == pid for p, _ in e.relations.pods)
    if name == "pod_name substring":
        pod = _first(entries, lambda e: bool(e.relations.pods)).relations.pods[0][1]
        part = pod.split("-")[0]
        return {"pod_name": part}, lambda e: any(part in n for _, n in e.relations.pods)
    if name == "app_name substring, any case":
        return {"app_name": "SSL"}, lambda e: any("ssl" in a.lower() for a in e.relations.apps)
    raise AssertionError(name)


CASES = [
    "image_name substring, any case",
    "image_version substring",
    "image_size is a lower bound",
    "update window, inclusive both ends",
    "scan window, start only",
    "scan window, end only (never scanned = 0 is included)",
    "scan window, 0 on both sides is unbounded",
    "host_name substring, any case",
    "host_id exact",
    "host_id prefix does not match",
    "host_ip exact, private",
    "host_ip exact, public",
    "host_ip partial does not match",
    "container_id exact",
    "container_name substring",
    "pod_id exact",
    "pod_name substring",
    "app_name substring, any case",
]


@pytest.mark.parametrize("case", CASES)
def test_filter_semantics(emulator: Emulator, emulator_http, case: str):
    entries = list(emulator.fleet.entries(None))
    params, rule = _case(entries, case)
    expected = _expected(entries, rule)
    assert _listed(emulator, emulator_http, {**ALL, **params}) == expected
    if "does not match" in case:
        assert expected == set()
    elif "unbounded" not in case:
        assert 0 < len(expected) < len(entries), "the case should split the fleet"


def test_window_bounds_are_inclusive(emulator: Emulator, emulator_http):
    entry = next(iter(emulator.fleet.entries(None)))
    exact = entry.record["latest_update_time"]
    params = {**ALL, "start_latest_update_time": exact, "end_latest_update_time": exact}
    assert entry.identity in _listed(emulator, emulator_http, params)


def test_start_after_end_lists_nothing(emulator: Emulator, emulator_http):
    params = {**ALL, "start_latest_scan_time": NOW_MS, "end_latest_scan_time": NOW_MS - 1}
    assert emulator_http.get(emulator.list_url, params=params).json() == {"total_num": 0, "data_list": []}


@pytest.mark.parametrize(
    ("query", "record_status"),
    [
        ("unscan", "unscan"),
        ("success", "success"),
        ("scanning", "scanning"),
        ("failed", "failed"),
        ("waiting_for_scan", "waiting"),
    ],
)
def test_scan_status(emulator: Emulator, emulator_http, query, record_status):
    entries = list(emulator.fleet.entries(None))
    expected = _expected(entries, lambda e: e.record["scan_status"] == record_status)
    assert expected
    assert _listed(emulator, emulator_http, {**ALL, "scan_status": query}) == expected


@pytest.mark.parametrize("kind", ["swr_image", "other_image"])
def test_local_image_type(emulator: Emulator, emulator_http, kind):
    entries = list(emulator.fleet.entries(None))
    expected = _expected(entries, lambda e: e.record["local_image_type"] == kind)
    assert expected
    assert _listed(emulator, emulator_http, {**ALL, "local_image_type": kind}) == expected


@pytest.mark.parametrize(("param", "field"), [("has_vul", "vul_num"), ("has_container", "container_num")])
@pytest.mark.parametrize("wanted", [True, False])
def test_has_flags_mean_count_above_zero(emulator: Emulator, emulator_http, param, field, wanted):
    entries = list(emulator.fleet.entries(None))
    expected = _expected(entries, lambda e: (e.record[field] > 0) == wanted)
    assert 0 < len(expected) < len(entries)
    assert _listed(emulator, emulator_http, {**ALL, param: "true" if wanted else "false"}) == expected


@pytest.mark.parametrize(
    ("ep", "project"),
    [
        (None, "0"),
        ("0", "0"),
        (EP_PLATFORM, EP_PLATFORM),
        ("all_granted_eps", None),
        ("no-such-project", "-"),
    ],
)
def test_enterprise_project(emulator: Emulator, emulator_http, ep, project):
    entries = list(emulator.fleet.entries(None))
    expected = _expected(entries, lambda e: project is None or e.relations.enterprise_project_id == project)
    params = {} if ep is None else {"enterprise_project_id": ep}
    assert _listed(emulator, emulator_http, params) == expected
    if project in ("0", EP_PLATFORM):
        assert 0 < len(expected) < len(entries)


def test_filters_combine_as_and(emulator: Emulator, emulator_http):
    entries = list(emulator.fleet.entries(None))
    expected = _expected(
        entries,
        lambda e: (
            e.relations.enterprise_project_id == "0"
            and e.record["scan_status"] == "success"
            and e.record["vul_num"] > 0
            and e.record["local_image_type"] == "swr_image"
        ),
    )
    params = {"scan_status": "success", "has_vul": "true", "local_image_type": "swr_image"}
    assert expected
    assert _listed(emulator, emulator_http, params) == expected


def test_fleet_listing_matches_what_is_served(emulator: Emulator, emulator_http):
    params = {"has_vul": True, "image_name": "api"}
    served = list_all(emulator_http, emulator.list_url, {"has_vul": "true", "image_name": "api"})
    assert served == emulator.fleet.listing(params)
