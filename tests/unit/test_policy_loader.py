"""Loading: one broken fixture per error kind, each reported with file, JSON pointer and message."""

import hashlib
import json
from pathlib import Path

import pytest

from imagewatch.hss.model import IMAGE_FIELDS
from imagewatch.hss.query import FILTER_PARAMS
from imagewatch.policy import load_policies
from imagewatch.policy.loader import MAX_FILE_BYTES, canonical_sha256
from support.pack import FIXTURE_PACK, SHIPPED_PACK

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "tests" / "fixtures" / "policies_broken"
PACK = FIXTURE_PACK  # the tests' own; policies/ is the user's

FIELDS = ", ".join(IMAGE_FIELDS)
SORTED_FIELDS = ", ".join(sorted(IMAGE_FIELDS))
SELECT_PARAMS = ", ".join(FILTER_PARAMS)
EXPIRY = (
    "a date 'YYYY-MM-DD' (valid through the end of that day, UTC), an ISO timestamp with a timezone,"
    ' or "never"'
)

EXPECTED = {
    "bad_duration.json": [
        (
            "/where/value",
            'got "7 days", expected a duration: a positive whole number and one unit of s, m, h, d,'
            " w (e.g. '90m', '36h', '7d')",
        ),
    ],
    "bad_regex.json": [
        (
            "/where/value",
            'got "nginx(", expected a valid regular expression in RE2 syntax (missing ) at "nginx(")',
        ),
    ],
    "bad_select_value.json": [
        (
            "/select/scan_status",
            'got "waiting", expected one of unscan, success, scanning, failed, waiting_for_scan'
            " (records say 'waiting', the query says 'waiting_for_scan')",
        ),
    ],
    "bad_severity.json": [("/severity", 'got "urgent", expected one of critical, high, medium, low, info')],
    "bad_severity_level.json": [
        ("/where/value", 'got "Critical", expected one of Security, Low, Medium, High (ranked in that order)')
    ],
    "duration_on_int.json": [
        (
            "/where/op",
            'got "older_than" on vul_num, an integer field; expected one of eq, ne, lt, lte, gt, gte, in,'
            " not_in, exists, missing",
        ),
    ],
    "example_bad_type.json": [("/examples/0/image/vul_num", 'got "3", expected an integer or null')],
    "example_unknown_field.json": [
        ("/examples/0/image/vuln_num", "not an ImageLocalInfo field (did you mean 'vul_num'?)")
    ],
    "exemption_bad_expires.json": [("/exempt/0/expires", f'got "2027-02-30", expected {EXPIRY}')],
    "exemption_without_expires.json": [
        (
            "/exempt/0",
            'missing required property "expires" (write "never" for an exemption that does not expire)',
        )
    ],
    "exemption_without_reason.json": [("/exempt/0", 'missing required property "reason"')],
    "exists_with_value.json": [("/where/value", "exists takes no value; remove it")],
    "fleet_bad_ratio.json": [("/fleet/value", "got 5, expected a ratio between 0 and 1 (0.05 is 5%)")],
    "fleet_with_exempt.json": [
        ("/exempt", "exemptions apply to image rules; a fleet rule's threshold is its allowance")
    ],
    "in_bad_item.json": [("/where/value/1", "got 3, expected a string (scan_status is a string field)")],
    "missing_title.json": [("", 'missing required property "title"')],
    "missing_value.json": [("/where", "missing 'value': gte compares vul_num with it")],
    "not_an_object.json": [("", "got a list, expected one policy object per file")],
    "numeric_op_on_string.json": [
        (
            "/where/op",
            'got "gt" on image_name, a string field; expected one of eq, ne, in, not_in, contains, glob,'
            " regex, exists, missing",
        ),
    ],
    "repeated_key.json": [("/severity", 'property "severity" given twice (JSON keeps only the last)')],
    "string_op_on_severity.json": [
        (
            "/where/op",
            'got "contains" on severity_level, a severity level field (severity_level compares by rank);'
            " expected one of eq, ne, lt, lte, gt, gte, in, not_in, exists, missing",
        ),
    ],
    "too_deep.json": [
        ("/where/not/not/not/not/not/not/not/not/not/not", "conditions nest deeper than 10 levels; simplify")
    ],
    "unsupported_regex.json": [
        (
            "/where/value",
            'got "^(a+)\\\\1$", expected a regular expression in RE2 syntax: a backreference \\1 is not'
            " supported (RE2 matches in linear time, so it has no backtracking features;"
            " see docs/policies.md)",
        ),
    ],
    "unknown_field.json": [
        ("/where/field", f"got \"severity\", expected one of {FIELDS} (did you mean 'severity_level'?)")
    ],
    "unknown_op.json": [
        (
            "/where/op",
            'got "greater", expected one of eq, ne, lt, lte, gt, gte, in, not_in, contains, glob, regex,'
            " exists, missing, older_than, within (did you mean 'gt'?)",
        ),
    ],
    "unknown_placeholder.json": [
        (
            "/message",
            f"unknown placeholder {{vulns}} (did you mean 'vul_num'?); expected one of {SORTED_FIELDS}",
        )
    ],
    "unknown_property.json": [
        (
            "/severty",
            "unexpected property \"severty\" (did you mean 'severity'?); expected one of $schema,"
            " description, examples, examples_now, exempt, fleet, id, labels, message, select, severity,"
            " sla, subject, title, where",
        ),
    ],
    "unknown_select.json": [
        ("/select/severity", f'unknown parameter "severity"; expected one of {SELECT_PARAMS}')
    ],
    "wrong_value_type.json": [("/where/value", 'got "5", expected an integer (vul_num is an integer field)')],
    "duplicate_id_b.json": [
        ("/id", f'policy id "duplicate-id" is already defined in {BROKEN / "duplicate_id_a.json"}')
    ],
}


@pytest.fixture(scope="module")
def broken():
    return load_policies(BROKEN)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_broken_fixture_reports_file_pointer_and_message(broken, name):
    found = [(e.pointer, e.message) for e in broken.errors if e.file == str(BROKEN / name)]
    assert found == EXPECTED[name]


def test_every_error_is_accounted_for_and_only_the_valid_policy_loads(broken):
    assert len(broken.errors) == sum(len(errors) for errors in EXPECTED.values()) + 1  # + malformed.json
    assert [p.id for p in broken.policies] == ["duplicate-id"]
    assert broken.policies[0].source == str(BROKEN / "duplicate_id_a.json")
    assert not any(f.endswith("README.txt") for f in broken.files)  # non-JSON files are ignored


def test_malformed_json_names_line_and_column(broken):
    [error] = [e for e in broken.errors if e.file.endswith("malformed.json")]
    assert (error.line, error.column, error.message) == (4, 3, "malformed JSON: Expecting ',' delimiter")
    assert str(error) == f"{BROKEN / 'malformed.json'}:4:3 /: malformed JSON: Expecting ',' delimiter"


def test_the_shipped_pack_loads_cleanly():
    """Whatever the user put in policies/ (subfolders too): it loads without an error."""
    loaded = load_policies(SHIPPED_PACK)
    assert loaded.errors == []
    assert loaded.policies


def test_the_fixture_pack_loads_cleanly():
    loaded = load_policies(PACK)
    assert loaded.errors == []
    assert loaded.warnings == []
    assert sorted(p.id for p in loaded.policies) == [
        "fleet-scan-coverage",
        "high-severity",
        "malicious-files",
        "medium-severity-vulns",
        "other-images-clean",
        "scan-failed",
        "scan-freshness",
        "unsafe-settings",
    ]


def test_source_and_hash_of_canonical_json(tmp_path):
    doc = {
        "id": "p",
        "title": "t",
        "severity": "low",
        "where": {"field": "vul_num", "op": "gt", "value": 0},
        "message": "{vul_num}",
    }
    (tmp_path / "a.json").write_text(json.dumps(doc, indent=4))
    (tmp_path / "b.json").write_text(json.dumps({**doc, "id": "q", "$schema": "x.json"}))
    a, b = load_policies(tmp_path).policies
    assert a.source == str(tmp_path / "a.json")
    canonical = (
        '{"id":"p","message":"{vul_num}","severity":"low","title":"t",'
        '"where":{"field":"vul_num","op":"gt","value":0}}'
    )
    assert a.sha256 == hashlib.sha256(canonical.encode()).hexdigest()
    # whitespace and $schema do not change the hash; content does
    assert b.sha256 == canonical_sha256({**doc, "id": "q"})
    assert a.sha256 != b.sha256


def test_folders_are_searched_recursively_skipping_dot_folders_and_schema_files(tmp_path):
    doc = {
        "id": "p",
        "title": "t",
        "severity": "low",
        "where": {"field": "vul_num", "op": "gt", "value": 0},
        "message": "m",
    }
    (tmp_path / "team").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "team" / "p.json").write_text(json.dumps(doc))
    (tmp_path / ".git" / "x.json").write_text("not json")
    (tmp_path / "policy.schema.json").write_text("{}")
    (tmp_path / "notes.md").write_text("#")
    loaded = load_policies(tmp_path)
    assert loaded.errors == []
    assert loaded.files == [str(tmp_path / "team" / "p.json")]


def test_a_single_file_and_several_paths(tmp_path):
    assert [p.id for p in load_policies(PACK / "scan-failed.json").policies] == ["scan-failed"]
    both = load_policies([PACK / "scan-failed.json", PACK / "malicious-files.json"])
    assert [p.id for p in both.policies] == ["scan-failed", "malicious-files"]


def test_missing_path_and_empty_folder(tmp_path):
    loaded = load_policies([tmp_path / "nope", tmp_path])
    assert [(e.file, e.message) for e in loaded.errors] == [
        (str(tmp_path / "nope"), "no such file or folder"),
        (str(tmp_path), "no policy files (*.json) found"),
    ]


def test_oversized_file(tmp_path):
    (tmp_path / "big.json").write_text(" " * (MAX_FILE_BYTES + 1))
    [error] = load_policies(tmp_path).errors
    assert error.message == f"{MAX_FILE_BYTES + 1} bytes; expected at most {MAX_FILE_BYTES} per policy file"


def test_too_many_conditions(tmp_path):
    leaves = [{"field": "vul_num", "op": "eq", "value": n} for n in range(100)]
    doc = {
        "id": "big",
        "title": "t",
        "severity": "low",
        "message": "m",
        "where": {"any": [{"any": leaves}, {"any": leaves}, {"any": leaves[:1]}]},
    }
    (tmp_path / "big.json").write_text(json.dumps(doc))
    [error] = load_policies(tmp_path).errors
    assert (error.pointer, error.message) == (
        "/where/any/2/any/0",
        "more than 200 conditions in one policy; split it",
    )


def test_schema_and_semantic_errors_are_reported_together(tmp_path):
    doc = {
        "id": "Bad Id",
        "title": "t",
        "severity": "low",
        "message": "{nope}",
        "where": {
            "all": [
                {"field": "image_name", "op": "regex", "value": "(("},
                {"field": "latest_scan_time", "op": "within", "value": "soon"},
            ]
        },
    }
    (tmp_path / "p.json").write_text(json.dumps(doc))
    errors = load_policies(tmp_path).errors
    assert [e.pointer for e in errors] == ["/id", "/where/all/0/value", "/where/all/1/value", "/message"]
    assert errors[0].message == (
        "got \"Bad Id\", expected a name of 1 to 64 lowercase letters, digits, '.', '_' or '-',"
        " starting with a letter or digit"
    )
