"""Pushdown is sound under every reading of the filters: what a run finds through the planned,
filtered listings equals what the same policies find on the whole fleet, unfiltered (the oracle), with
the emulator answering as the API page is read (``DOC``) and as the SDK docstrings say (``SDK``).

The fleet is synthetic plus records placed on the disputed edges: a name in another case, a record
being rescanned that still carries vulnerabilities, a tag on another image, sizes around a policy's.
A policy whose select ``validate`` warns about is shown to differ under one reading — the check has
teeth. (New with the semantics switch; it reproduces "Emulator semantics where the doc page is silent"
only in that the ``has_vul`` pushdown it warns about would have passed ``validate`` silently before.)
"""

from __future__ import annotations

from typing import Any

import pytest

from imagewatch.emulator import DOC, SDK, Emulator, Fleet, Semantics
from imagewatch.hss.auth import TokenAuth
from imagewatch.hss.client import HssClient
from imagewatch.hss.model import parse_image
from imagewatch.plan import plan
from imagewatch.policy import Evaluator, Policy, load_policies, policy_from_mapping
from imagewatch.policy.pushdown import pushdown_warnings
from support.emulator_support import NOW_MS
from support.pack import FIXTURE_PACK

PACK = FIXTURE_PACK  # the tests' own; policies/ is the user's
ALL_EPS = "all_granted_eps"


def _fleet() -> tuple[Fleet, dict[str, Any]]:
    base = Fleet.synthetic(800, seed=11, now_ms=NOW_MS)
    records = [dict(entry.record) for entry in base.entries()]
    anchor = next(r for r in records if r.get("scan_status") == "success" and r.get("vul_num", 0) > 10)
    name, version, size = anchor["image_name"], anchor["image_version"], anchor["image_size"]

    def edge(suffix: str, **fields: Any) -> dict[str, Any]:
        return {**anchor, "image_id": f"edge-{suffix}", "host_id": f"edge-host-{suffix}", **fields}

    records += [
        edge("upper", image_name=name.upper()),  # case-insensitive match only
        edge("longer", image_name=f"{name}-extra"),  # substring match only
        edge("rescan", scan_status="scanning", vul_num=9, severity_level=""),  # vulns, not scanned now
        edge("failed", scan_status="failed", vul_num=4, severity_level="", scan_failed_desc="huge_image"),
        edge("tag-elsewhere", image_name="other/app", image_version=version),  # same tag, other image
        edge("bigger", image_size=size + 1),  # inside "at least", outside "exact"
    ]
    return Fleet.from_records(records), {"name": name, "version": version, "size": size}


def _user_policies(anchor: dict[str, Any]) -> list[Policy]:
    """Sound user-style policies: each select is implied by its where under every reading."""
    name, version, size = anchor["name"], anchor["version"], anchor["size"]
    specs = [
        (
            "many-vulns",
            {"has_vul": True},
            {
                "all": [
                    {"field": "scan_status", "op": "eq", "value": "success"},
                    {"field": "vul_num", "op": "gt", "value": 10},
                ]
            },
        ),
        (
            "clean-scans",
            {"has_vul": False},
            {
                "all": [
                    {"field": "vul_num", "op": "eq", "value": 0},
                    {"field": "severity_level", "op": "lte", "value": "Low"},
                ]
            },
        ),
        (
            "named-image",
            {"image_name": name},
            {
                "all": [
                    {"field": "image_name", "op": "eq", "value": name},
                    {"field": "vul_num", "op": "gt", "value": 0},
                ]
            },
        ),
        (
            "pinned-tag",
            {"image_version": version},
            {
                "all": [
                    {"field": "image_name", "op": "eq", "value": name},
                    {"field": "image_version", "op": "eq", "value": version},
                ]
            },
        ),
        ("exact-size", {"image_size": size}, {"field": "image_size", "op": "eq", "value": size}),
    ]
    policies = [
        policy_from_mapping(
            {"id": pid, "title": pid, "severity": "low", "message": "m", "select": select, "where": where}
        )
        for pid, select, where in specs
    ]
    for policy in policies:
        assert pushdown_warnings(policy) == [], policy.id
    return policies


def _found(policies: list[Policy], fleet: Fleet, semantics: Semantics) -> set[tuple[str, str]]:
    """What a run finds: the plan's listings, read by our client, each judged by its policies."""
    found: set[tuple[str, str]] = set()
    with (
        Emulator(fleet=fleet, semantics=semantics) as emu,
        HssClient(emu.url, emu.project_id, TokenAuth("demo-token")) as client,
    ):
        for planned in plan(policies, ALL_EPS):
            evaluator = Evaluator(list(planned.policies), NOW_MS)
            listing = client.list_images(planned.query)
            for image in listing:
                evaluator.add(image)
            assert listing.complete, listing.problems
            found |= {(v.policy_id, v.subject) for v in evaluator.finish().violations}
    return found


def _oracle(policies: list[Policy], fleet: Fleet) -> set[tuple[str, str]]:
    """The same policies over every record, no select applied."""
    evaluator = Evaluator(policies, NOW_MS)
    for record in fleet.listing():
        evaluator.add(parse_image(record))
    return {(v.policy_id, v.subject) for v in evaluator.finish().violations}


@pytest.mark.parametrize("semantics", [DOC, SDK], ids=lambda s: s.name)
def test_planned_listings_find_what_the_unfiltered_fleet_holds(semantics: Semantics) -> None:
    fleet, anchor = _fleet()
    pack = [p for p in load_policies(PACK).policies if p.fleet is None]
    policies = pack + _user_policies(anchor)
    expected = _oracle(policies, fleet)
    assert {pid for pid, _ in expected} >= {
        "high-severity",
        "many-vulns",
        "named-image",
        "pinned-tag",
        "exact-size",
    }
    assert _found(policies, fleet, semantics) == expected


def test_a_warned_select_misses_records_under_one_reading() -> None:
    """``has_vul`` with a where that does not require a successful scan: validate warns, and under the
    SDK reading the record being rescanned with 9 vulnerabilities is never listed."""
    fleet, _ = _fleet()
    policy = policy_from_mapping(
        {
            "id": "any-vulns",
            "title": "t",
            "severity": "low",
            "message": "m",
            "select": {"has_vul": True},
            "where": {"field": "vul_num", "op": "gt", "value": 0},
        }
    )
    assert [pointer for pointer, _ in pushdown_warnings(policy)] == ["/select/has_vul"]
    expected = _oracle([policy], fleet)
    assert _found([policy], fleet, DOC) == expected
    missed = expected - _found([policy], fleet, SDK)
    assert {subject for _, subject in missed} >= {
        "edge-rescan",
        "edge-failed",
    }
