"""The fleet: seeded synthetic records with realistic spreads, big fleets on the fly, files, mutations."""

from __future__ import annotations

import json
import re
import tracemalloc
from collections import Counter, defaultdict

import pytest

from imagewatch.emulator import Emulator, Fleet, Relations
from imagewatch.emulator.synthetic import DEFAULT_EP_CYCLE, SCAN_FAILED_DESCS
from imagewatch.hss.model import parse_image
from support.emulator_support import HTTP, NOW_MS

DAY = 86_400_000
TOKEN = {"X-Auth-Token": "demo-token"}


@pytest.fixture(scope="module")
def default_fleet() -> list[dict]:
    return Fleet.synthetic(seed=11, now_ms=NOW_MS).listing(None)


def test_same_seed_same_records_other_seed_other_records():
    first = Fleet.synthetic(400, seed=5, now_ms=NOW_MS).listing(None)
    assert first == Fleet.synthetic(400, seed=5, now_ms=NOW_MS).listing(None)
    assert first != Fleet.synthetic(400, seed=6, now_ms=NOW_MS).listing(None)
    relations = [e.relations for e in Fleet.synthetic(400, seed=5, now_ms=NOW_MS).entries(None)]
    assert relations == [e.relations for e in Fleet.synthetic(400, seed=5, now_ms=NOW_MS).entries(None)]


def test_default_size_and_every_record_is_well_typed(default_fleet):
    assert len(default_fleet) == 3000
    identities = [parse_image(record).identity for record in default_fleet]
    assert len(set(identities)) == len(identities)


def test_scan_statuses_and_failure_reasons_spread(default_fleet):
    statuses = Counter(r["scan_status"] for r in default_fleet)
    assert set(statuses) == {"success", "unscan", "failed", "scanning", "waiting"}
    assert statuses["success"] > len(default_fleet) / 2
    failed = [r for r in default_fleet if r["scan_status"] == "failed"]
    assert {r["scan_failed_desc"] for r in failed} == set(SCAN_FAILED_DESCS)
    assert all(r["scan_failed_desc"] == "" for r in default_fleet if r["scan_status"] != "failed")


def test_severities_skew_low_and_are_empty_without_a_successful_scan(default_fleet):
    scanned = [r for r in default_fleet if r["scan_status"] == "success"]
    severities = Counter(r["severity_level"] for r in scanned)
    assert severities["Low"] + severities["Medium"] > severities["High"] > 0
    assert all((r["severity_level"] == "Security") == (r["vul_num"] == 0) for r in scanned)
    assert all(r["severity_level"] == "" for r in default_fleet if r["scan_status"] != "success")


def test_vulnerability_counts_are_long_tailed(default_fleet):
    counts = sorted(r["vul_num"] for r in default_fleet)
    assert counts.count(0) > len(counts) / 4
    assert counts[len(counts) // 2] < 20 < counts[-1]
    assert counts[-1] >= 100


def test_a_few_malicious_files_and_unsafe_settings(default_fleet):
    malicious = sum(r["malicious_file_num"] > 0 for r in default_fleet)
    unsafe = sum(r["unsafe_setting_num"] > 0 for r in default_fleet)
    assert 0 < malicious < len(default_fleet) * 0.05
    assert 0 < unsafe < len(default_fleet) * 0.25


def test_scan_times_fresh_and_stale_and_zero_when_never_scanned(default_fleet):
    for record in default_fleet:
        assert 0 <= record["latest_scan_time"] <= NOW_MS
        assert 0 < record["latest_update_time"] < NOW_MS
        if record["scan_status"] in ("unscan", "waiting"):
            assert record["latest_scan_time"] == 0
        if record["scan_status"] in ("success", "failed"):
            assert record["latest_scan_time"] > record["latest_update_time"]
    scanned = [r["latest_scan_time"] for r in default_fleet if r["latest_scan_time"]]
    assert any(t >= NOW_MS - 7 * DAY for t in scanned)
    assert any(t <= NOW_MS - 30 * DAY for t in scanned)


def test_images_sit_on_several_hosts_with_consistent_identity(default_fleet):
    by_image: dict[str, list[dict]] = defaultdict(list)
    hosts: dict[str, tuple[str, str]] = {}
    for record in default_fleet:
        by_image[record["image_id"]].append(record)
        host = (record["host_name"], record["agent_id"])
        assert hosts.setdefault(record["host_id"], host) == host
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", record["image_digest"])
    assert max(len(records) for records in by_image.values()) >= 3
    for records in by_image.values():
        shared = {(r["image_name"], r["image_version"], r["image_digest"], r["vul_num"]) for r in records}
        assert len(shared) == 1
        assert len({r["host_id"] for r in records}) == len(records) == records[0]["host_num"]
    assert {r["local_image_type"] for r in default_fleet} == {"swr_image", "other_image"}
    assert len(hosts) > 50


def test_enterprise_project_views_match_the_relations():
    fleet = Fleet.synthetic(1003, seed=2, now_ms=NOW_MS)
    source = fleet.source
    for project in set(DEFAULT_EP_CYCLE):
        view, exact = source.candidates(project)
        assert exact
        assert list(view) == [i for i in range(1003) if source.relations(i).enterprise_project_id == project]
        assert fleet.total({"enterprise_project_id": project}) == len(view)


def test_a_million_images_serve_a_page_near_the_end_without_building_the_fleet():
    fleet = Fleet.synthetic(1_000_000, seed=3, now_ms=NOW_MS)
    with Emulator(fleet) as emu:
        tracemalloc.start()
        try:
            everything = HTTP.get(
                emu.list_url,
                headers=TOKEN,
                params={"enterprise_project_id": "all_granted_eps", "offset": 999_990},
            ).json()
            default = HTTP.get(emu.list_url, headers=TOKEN, params={"offset": 599_995, "limit": 200}).json()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert everything["total_num"] == 1_000_000 and len(everything["data_list"]) == 10
    assert everything["data_list"] == fleet.page(None, 999_990, 10)[1]
    assert default["total_num"] == 600_000 and len(default["data_list"]) == 5
    assert peak < 20 * 1024 * 1024  # a materialised fleet would need gigabytes


# -- files ---------------------------------------------------------------------------------------------


def _record(image_id: str, host_id: str, **extra) -> dict:
    return {
        "image_id": image_id,
        "host_id": host_id,
        "image_name": "app",
        "image_version": "1",
        "vul_num": 0,
        **extra,
    }


def test_load_a_list_with_hidden_relations_and_filter_on_them(tmp_path):
    records = [
        _record(
            "i1", "h1", _emulator={"containers": [{"id": "c1", "name": "web-1"}], "host_ips": ["10.0.0.1"]}
        ),
        _record("i1", "h2", _emulator={"enterprise_project_id": "ep-x", "apps": ["openssl"]}),
        _record("i2", "h1", vul_num="many"),  # served as given: the client must cope
    ]
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(records))
    fleet = Fleet.load(path)
    with Emulator(fleet) as emu:
        listed = HTTP.get(
            emu.list_url, headers=TOKEN, params={"enterprise_project_id": "all_granted_eps"}
        ).json()
        by_container = HTTP.get(emu.list_url, headers=TOKEN, params={"container_name": "WEB"}).json()
        by_ip = HTTP.get(emu.list_url, headers=TOKEN, params={"host_ip": "10.0.0.1"}).json()
        with_vul = HTTP.get(emu.list_url, headers=TOKEN, params={"has_vul": "true"}).json()
        ep_x = HTTP.get(emu.list_url, headers=TOKEN, params={"enterprise_project_id": "ep-x"}).json()
    assert listed["data_list"] == [{k: v for k, v in r.items() if k != "_emulator"} for r in records]
    assert [r["host_id"] for r in by_container["data_list"]] == ["h1"]
    assert [r["image_id"] for r in by_ip["data_list"]] == ["i1"]
    assert with_vul["total_num"] == 0  # "many" is not a count above zero
    assert [r["host_id"] for r in ep_x["data_list"]] == ["h2"]


def test_load_data_list_form_and_dump_round_trip(tmp_path):
    source = Fleet.synthetic(120, seed=9, now_ms=NOW_MS)
    dumped = tmp_path / "dump.json"
    assert source.dump(dumped) == 120
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"data_list": json.loads(dumped.read_text()), "total_num": 120}))
    loaded = Fleet.load(wrapped)
    assert loaded.listing(None) == source.listing(None)
    assert [e.relations for e in loaded.entries(None)] == [e.relations for e in source.entries(None)]
    assert loaded.listing({"app_name": "ssl"}) == source.listing({"app_name": "ssl"})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([_record("i1", "h1"), _record("i1", "h1")], "records 0 and 1 share the identity 'i1@h1'"),
        ([_record("i1", "h1"), 7], "fleet record 1: expected a JSON object"),
        ([_record("i1", "h1", _emulator={"pods": 3})], r"fleet record 0._emulator.pods"),
        ([_record("i1", "h1", _emulator={"ips": []})], "unknown relation keys"),
        ({"records": []}, "expected a JSON list of records"),
        ("not json", "cannot read it as JSON"),
    ],
)
def test_bad_fleet_files_say_where(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ValueError, match=message):
        Fleet.load(path)


# -- mutations -----------------------------------------------------------------------------------------


def test_insert_front_and_back_and_delete():
    fleet = Fleet.synthetic(50, seed=1, now_ms=NOW_MS, enterprise_projects=("0",))
    before = fleet.listing({})
    front = fleet.insert([_record("new-1", "h1", vul_num=3)])
    back = fleet.insert([_record("new-2", "h1")], front=False)
    after = fleet.listing({})
    assert after[0]["image_id"] == "new-1" and after[-1]["image_id"] == "new-2"
    assert after[1:-1] == before
    assert fleet.delete([*front, *back, parse_image(before[3]).identity, "missing@nowhere"]) == 3
    assert fleet.listing({}) == before[:3] + before[4:]
    with pytest.raises(ValueError, match="already holds"):
        fleet.insert([dict(before[0])])


def test_update_changes_what_filters_see():
    fleet = Fleet.synthetic(300, seed=4, now_ms=NOW_MS)
    vulnerable = fleet.listing({"has_vul": True})  # builds and caches this filter's index
    target = parse_image(vulnerable[0]).identity
    fleet.update(target, vul_num=0, severity_level="Security")
    assert target not in {parse_image(r).identity for r in fleet.listing({"has_vul": True})}
    assert len(fleet.listing({"has_vul": True})) == len(vulnerable) - 1
    assert fleet.find(target).record["vul_num"] == 0
    fleet.update(target, vul_num=9)
    assert fleet.listing({"has_vul": True}) == [
        {**vulnerable[0], "vul_num": 9, "severity_level": "Security"},
        *vulnerable[1:],
    ]
    with pytest.raises(ValueError, match="would change the identity"):
        fleet.update(target, host_id="elsewhere")
    with pytest.raises(KeyError):
        fleet.update("missing@nowhere", vul_num=1)


def test_relations_are_hidden_from_records():
    entry = next(iter(Fleet.synthetic(20, seed=1, now_ms=NOW_MS).entries(None)))
    assert isinstance(entry.relations, Relations)
    assert "_emulator" not in entry.record and "_apps" not in entry.record
