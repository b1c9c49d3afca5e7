"""Inline examples: the shipped pack passes, whatever it holds; a flipped example (of the tests' own
pack) fails naming policy, example and leaf."""

import io
import json
import re

from imagewatch.policy import load_policies, policy_from_mapping, run_examples_cli
from imagewatch.policy.example_cases import DEFAULT_EXAMPLES_NOW
from imagewatch.policy.examples import failures, verdict
from support.pack import FIXTURE_PACK, SHIPPED_PACK

PACK = FIXTURE_PACK


def run(paths):
    out = io.StringIO()
    code = run_examples_cli([str(p) for p in paths], out)
    return code, out.getvalue().splitlines()


def flipped(tmp_path, name, index, expect, **changes):
    doc = json.loads((PACK / name).read_text())
    doc["examples"][index]["expect"] = expect
    doc["examples"][index].update(changes)
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_the_shipped_pack_passes_all_its_examples():
    """policies/ is the user's: whatever it holds, every example it has passes."""
    code, lines = run([SHIPPED_PACK])
    assert code == 0, lines
    assert re.fullmatch(r"\d+ examples?, 0 failed", lines[-1]), lines


def test_the_fixture_pack_passes_all_its_examples():
    code, lines = run([PACK])
    assert (code, lines) == (0, ["28 examples, 0 failed"])


def test_every_fixture_policy_has_violating_and_passing_examples():
    for policy in load_policies(PACK).policies:
        verdicts = {example.expect for example in policy.examples}
        assert {"violation", "pass"} <= verdicts, policy.id


def test_a_flipped_example_names_the_policy_the_example_and_the_deciding_leaf(tmp_path):
    path = flipped(tmp_path, "high-severity.json", 1, "violation")
    code, lines = run([path])
    assert code == 1
    assert lines == [
        f'FAIL {path} high-severity example 1 ("Medium is below the bar"): expected violation, got pass',
        '  /where: severity_level gte "High" was false for "Medium"',
        "7 examples, 1 failed",
    ]


def test_the_deciding_leaf_inside_a_group(tmp_path):
    path = flipped(tmp_path, "scan-freshness.json", 1, "pass")
    _, lines = run([path])
    assert lines[:2] == [
        f'FAIL {path} scan-freshness example 1 ("last scan 8 days ago"): expected pass, got violation',
        '  /where/not/all/1: latest_scan_time within "7d" was false for 1792800000000 (2026-10-24T00:00:00Z)',
    ]
    path = flipped(tmp_path, "medium-severity-vulns.json", 1, "violation")
    _, lines = run([path])
    assert lines[1] == "  /where/all/1: vul_num gt 20 was false for 20"


def test_an_exempt_example_explains_the_exemption(tmp_path):
    path = flipped(tmp_path, "high-severity.json", 4, "violation")
    _, lines = run([path])
    assert lines[:5] == [
        f"FAIL {path} high-severity example 4"
        ' ("the vendor exemption applies until the end of 2027-03-31 UTC"): expected violation, got exempt',
        '  /where: severity_level gte "High" was true for "High"',
        '  exempted by /exempt/0 ("Vendor image; the patched 4.3 release is scheduled for Q1 (CHG-20931)",'
        " expires 2027-03-31, owner payments-platform)",
        '  /exempt/0/where/all/0: image_name eq "vendor/billing-engine" was true for "vendor/billing-engine"',
        '  /exempt/0/where/all/1: image_version glob "4.2.*" was true for "4.2.9"',
    ]


def test_an_expired_exemption_is_named(tmp_path):
    path = flipped(tmp_path, "high-severity.json", 6, "exempt")
    _, lines = run([path])
    assert lines[:3] == [
        f'FAIL {path} high-severity example 6 ("the violation returns once the exemption has expired"):'
        " expected exempt, got violation",
        '  /where: severity_level gte "High" was true for "High"',
        "  /exempt/0 matches but expired (expires 2027-03-31)",
    ]


def test_an_unselected_image_is_explained_by_the_select(tmp_path):
    path = flipped(tmp_path, "high-severity.json", 3, "violation")
    _, lines = run([path])
    assert (
        lines[1]
        == '  not selected, so never evaluated: /select/scan_status is "success" but the image has "unscan"'
    )


def test_fail_closed_is_explained(tmp_path):
    path = flipped(tmp_path, "high-severity.json", 2, "pass")
    _, lines = run([path])
    assert (
        lines[1] == '  /where: severity_level gte "High" was true for ""'
        " (scan succeeded without a known level: counted as High)"
    )


def test_a_flipped_fleet_example_shows_the_figure_and_the_counted_images(tmp_path):
    path = flipped(tmp_path, "fleet-scan-coverage.json", 1, "pass")
    _, lines = run([path])
    assert lines == [
        f'FAIL {path} fleet-scan-coverage example 1 ("2 of 20 is 10%"): expected pass, got violation',
        "  ratio = 0.1 (2 of 20); requirement ratio lte 5%",
        "  images matching /fleet/ratio/where: #18 shop/new:0.1 on node-9, #19 shop/new:0.2 on node-9",
        "3 examples, 1 failed",
    ]


def test_load_errors_fail_the_run(tmp_path):
    (tmp_path / "bad.json").write_text("{")
    code, lines = run([PACK / "scan-failed.json", tmp_path])
    assert code == 2  # a policy that does not load is a configuration error; a failed example is 1
    assert lines[-1] == "2 examples, 0 failed, 1 load error"


def test_examples_run_at_a_fixed_now():
    doc = {
        "id": "fresh",
        "title": "t",
        "severity": "low",
        "message": "m",
        "where": {"field": "latest_scan_time", "op": "older_than", "value": "1d"},
        "examples": [
            {"image": {"latest_scan_time": DEFAULT_EXAMPLES_NOW - 1000}, "expect": "pass"},
            {
                "image": {"latest_scan_time": DEFAULT_EXAMPLES_NOW - 1000},
                "expect": "violation",
                "now": "2030-01-01",
            },
        ],
    }
    policy = policy_from_mapping(doc)
    assert [verdict(policy, example) for example in policy.examples] == ["pass", "violation"]
    later = policy_from_mapping({**doc, "examples_now": "2030-01-01T00:00:00Z"})
    assert [verdict(later, example) for example in later.examples] == ["violation", "violation"]
    assert failures([policy]) == (2, [])
