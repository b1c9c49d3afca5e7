"""Validation that finishes the job (issue 14, point 5), piece by piece: what kind a file is, one
translator of schema errors for every kind, every problem of a channels file or an event at once,
exemptions dated, dates in example records, did-you-mean by meaning."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from imagewatch.alerts.routing import ChannelsFileError, channels_from_document
from imagewatch.events import EventError, event_problems, parse_event
from imagewatch.policy import PolicyLoadError, policy_from_mapping
from imagewatch.policy.conditions import condition_text
from imagewatch.policy.examples import failures
from imagewatch.policy.instants import parse_instant
from imagewatch.policy.operators import OPERATOR_SYNONYMS, OPERATORS
from imagewatch.policy.schema import schema_problems
from imagewatch.policy.validate import exemption_warnings, kind_of, validate_cli, validate_files
from imagewatch.suggest import did_you_mean

ROOT = Path(__file__).resolve().parents[2]
NOW = parse_instant("2026-06-01T12:00:00Z")
ENV = {"OPS_URL": "https://hooks.slack.com/services/T/B/planted-token"}


def policy(**changes: object) -> dict:
    return {
        "id": "p",
        "title": "t",
        "severity": "low",
        "message": "m",
        "where": {"field": "vul_num", "op": "gt", "value": 0},
        **changes,
    }


# -- what kind of file -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((ROOT / "events").glob("*.json")), ids=lambda p: p.name)
def test_every_shipped_event_is_an_event(path: Path) -> None:
    assert kind_of(json.loads(path.read_text())) == "event"


@pytest.mark.parametrize("path", sorted((ROOT / "policies").rglob("*.json")), ids=lambda p: p.name)
def test_every_shipped_policy_is_a_policy(path: Path) -> None:
    assert kind_of(json.loads(path.read_text())) == "policy"


@pytest.mark.parametrize(
    ("document", "kind"),
    [
        ({"channels": []}, "channels"),
        ({"$schema": "../x/channels.schema.json"}, "channels"),
        ({"$schema": "policy.schema.json", "source": "manual", "action": "check"}, "policy"),
        ({"source": "manual"}, "event"),
        ({"sorce": "manual", "action": "check"}, "event"),  # a typo'd event still reads as one
        ({"id": "x", "title": "t", "source": "y"}, "policy"),  # a stray key does not make an event
        ({"action": "check", "policies": ["a"]}, "event"),
        ({}, "policy"),
        ([], "policy"),
        ("text", "policy"),
    ],
)
def test_kind_is_decided_by_content(document: object, kind: str) -> None:
    assert kind_of(document) == kind


# -- one translator, every kind ------------------------------------------------------------------------


def test_a_policy_missing_two_required_properties_reports_both() -> None:
    doc = {"id": "p", "title": "t", "where": {"field": "vul_num", "op": "exists"}}
    assert schema_problems(doc) == [
        ("", 'missing required property "severity"'),
        ("", 'missing required property "message"'),
    ]
    with pytest.raises(PolicyLoadError) as refused:
        policy_from_mapping(doc)
    assert [error.message for error in refused.value.errors] == [
        'missing required property "severity"',
        'missing required property "message"',
    ]


def test_each_unexpected_property_is_its_own_problem() -> None:
    problems = schema_problems(policy(severty="low", titel="x"))
    assert [pointer for pointer, _ in problems] == ["/severty", "/titel"]
    assert "(did you mean 'severity'?)" in problems[0][1] and "(did you mean 'title'?)" in problems[1][1]


def test_label_names_are_pointed_at_and_said_in_words() -> None:
    assert schema_problems(policy(labels={"Team": "x"})) == [
        (
            "/labels/Team",
            "property name got \"Team\", expected a name of 1 to 32 lowercase letters, digits or '_',"
            " starting with a letter",
        )
    ]


RAW = ("is not of type", "is a required property", "Additional properties", "does not match", "is not one of")


@pytest.mark.parametrize(
    "event",
    [
        {"source": "schedule"},
        {"source": "schedule", "scheduled_time": 1, "x": 1},
        {"source": "aws.events", "detail-type": "Other", "time": "soon"},
        {"source": "manual", "action": "check", "policies": [1, 1], "dry_run": None},
        {"source": "manual", "action": "check", "target": {"name": "Bad", "project_id": "a/b", "x": 1}},
    ],
)
def test_event_problems_are_in_our_words(event: dict) -> None:
    problems = event_problems(event)
    assert problems and not [p for p in problems if any(raw in p for raw in RAW)], problems
    assert all(p.startswith("/") for p in problems)


def test_an_event_reports_every_problem_at_once() -> None:
    event = {
        "source": "manual",
        "action": "resend",
        "channel": "Ops!",
        "dry_run": "yes",
        "policies": ["p"],
        "target": {"name": "x", "region": "cn-north-4\n"},
        "colour": 1,
    }
    assert event_problems(event) == [
        "/channel: got \"Ops!\", expected a name of 1 to 64 lowercase letters, digits, '.', '_' or '-',"
        " starting with a letter or digit",
        '/colour: unexpected property "colour"; expected one of action, channel, dry_run, policies, source,'
        " target",
        '/dry_run: got "yes", expected a boolean',
        "/policies: not used by action 'resend' (it takes: channel, target)",
        '/target/region: got "cn-north-4\\n", expected a region id such as "cn-north-4"',
    ]
    with pytest.raises(EventError) as refused:
        parse_event(event)
    assert refused.value.problems == event_problems(event)


def test_an_events_exception_text_stays_short_but_its_problems_are_all_kept() -> None:
    event = {"source": "manual", "action": "check", **{f"extra{n}": n for n in range(15)}}
    with pytest.raises(EventError) as refused:
        parse_event(event)
    assert len(refused.value.problems) == 15
    assert str(refused.value).endswith("; and 5 more")


def test_a_channels_file_reports_schema_errors_and_everything_else_together() -> None:
    document = {
        "channels": [
            {"name": "ops", "url": "${OPS_URL}", "platform": "slak"},
            {
                "name": "ops",
                "url": "${AWS_SECRET_ACCESS_KEY}",
                "repeat_interval": "soon",
                "min_severity": "hi",
            },
            {"name": "Bad", "url": "${NOT_SET_URL}", "secret": 7},
            "not an object",
        ]
    }
    with pytest.raises(ChannelsFileError) as refused:
        channels_from_document(document, "channels.json", ENV)
    assert refused.value.problems == [
        '/channels/0/platform: got "slak", expected one of slack, teams, feishu, lark, dingtalk, wecom,'
        " discord, googlechat, generic (did you mean 'slack'?)",
        '/channels/1/min_severity: got "hi", expected one of critical, high, medium, low, info'
        " (did you mean 'high'?)",
        "/channels/1/name: 'ops' is used by another channel; names must be unique",
        '/channels/1/repeat_interval: got "soon", expected a duration: a positive whole number and one unit'
        " of s, m, h, d, w (e.g. '90m', '36h', '7d')",
        "/channels/1/url: ${AWS_SECRET_ACCESS_KEY} may not be referenced (expected a channel setting:"
        " WEBHOOK_*, CHANNEL_*, IMAGEWATCH_* or *_URL, *_WEBHOOK, *_SECRET (never AWS_*, HSS_*, LAMBDA_*,"
        " SETTINGS_*, POWERTOOLS_* or _*))",
        "/channels/2/name: got \"Bad\", expected a name of 1 to 64 lowercase letters, digits, '.', '_' or"
        " '-', starting with a letter or digit",
        "/channels/2/secret: got an integer (not shown: it may hold a secret), expected a string",
        "/channels/2/url: ${NOT_SET_URL} is not set (expected a setting or secret key named NOT_SET_URL)",
        '/channels/3: got "not an object", expected an object',
    ]
    assert "planted-token" not in str(refused.value)


def test_a_good_channels_document_still_resolves() -> None:
    [channel] = channels_from_document({"channels": [{"name": "ops", "url": "${OPS_URL}"}]}, "c", ENV)
    assert channel.url == ENV["OPS_URL"] and channel.platform.NAME == "slack"


# -- did-you-mean by meaning -----------------------------------------------------------------------------


def test_every_synonym_names_a_real_operator_and_none_shadows_one() -> None:
    assert set(OPERATOR_SYNONYMS.values()) <= set(OPERATORS)
    assert not set(OPERATOR_SYNONYMS) & set(OPERATORS)


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("greater_than", "gt"),
        ("GREATER_THAN", "gt"),
        ("less_than", "lt"),
        ("equals", "eq"),
        ("not_equals", "ne"),
        (">=", "gte"),
        ("includes", "contains"),
        ("matches", "regex"),
        ("newer_than", "within"),
        ("gtee", "gte"),  # no synonym: spelling decides
    ],
)
def test_operator_hints_go_by_meaning(written: str, meant: str) -> None:
    assert did_you_mean(written, OPERATORS, OPERATOR_SYNONYMS) == f" (did you mean {meant!r}?)"
    problems = schema_problems(policy(where={"field": "vul_num", "op": written, "value": 1}))
    assert problems[0][0] == "/where/op" and problems[0][1].endswith(f"(did you mean {meant!r}?)")


def test_a_fleet_threshold_operator_hint_stays_among_threshold_operators() -> None:
    assert did_you_mean("greater_than", ["eq", "ne", "lt", "lte", "gt", "gte"], OPERATOR_SYNONYMS) == (
        " (did you mean 'gt'?)"
    )
    assert did_you_mean("includes", ["eq", "gt"], OPERATOR_SYNONYMS) == ""


# -- dates in examples -------------------------------------------------------------------------------------


def test_example_records_take_dates_and_timestamps_like_conditions() -> None:
    loaded = policy_from_mapping(
        policy(
            where={"field": "latest_scan_time", "op": "older_than", "value": "7d"},
            examples_now="2026-03-01T00:00:00Z",
            examples=[
                {"expect": "violation", "image": {"latest_scan_time": "2026-02-01"}},
                {"expect": "pass", "image": {"latest_scan_time": "2026-02-28T23:00:00+01:00"}},
                {"expect": "pass", "image": {"latest_scan_time": parse_instant("2026-02-27")}},
            ],
        )
    )
    assert [example.images[0].latest_scan_time for example in loaded.examples] == [
        parse_instant("2026-02-01"),
        parse_instant("2026-02-28T22:00:00Z"),
        parse_instant("2026-02-27"),
    ]
    assert failures([loaded]) == (3, [])


def test_a_bad_date_in_an_example_is_reported_with_the_others() -> None:
    with pytest.raises(PolicyLoadError) as refused:
        policy_from_mapping(
            policy(
                examples=[
                    {"expect": "maybe", "image": {"latest_update_time": "2026-01-01T08:00:00", "vuln": 1}},
                ]
            )
        )
    assert [(e.pointer, e.message.split(",")[0]) for e in refused.value.errors] == [
        ("/examples/0/expect", 'got "maybe"'),
        ("/examples/0/image/vuln", "not an ImageLocalInfo field (did you mean 'vul_num'?)"),
        ("/examples/0/image/latest_update_time", 'got "2026-01-01T08:00:00"'),
    ]


# -- exemptions, dated ---------------------------------------------------------------------------------


def exempt(expires: str, **where: object) -> dict:
    condition = where or {"field": "image_name", "op": "eq", "value": "vendor/a"}
    return {"where": condition, "reason": "r", "expires": expires}


def test_expired_and_expiring_exemptions_name_file_pointer_subject_and_when() -> None:
    loaded = policy_from_mapping(
        policy(
            exempt=[
                exempt("2026-05-01"),  # lapsed 2026-05-02T00:00Z: 30 days 12 hours before NOW
                exempt("2026-06-10T00:00:00Z"),  # 8 days 12 hours after NOW
                exempt("2026-06-15"),  # lapses 2026-06-16: 14 days 12 hours away, past the run's window
                exempt("2026-06-01T12:30:00Z"),  # within the hour
                exempt("never"),
            ]
        ),
        "p.json",
    )
    assert exemption_warnings([loaded], NOW) == [
        'p.json /exempt/0/expires: expired "2026-05-01" (lapsed 2026-05-02T00:00:00Z, 30 days ago): the'
        ' exemption for image_name eq "vendor/a" no longer applies, so its images are violations again;'
        " renew it with a later date, or remove it",
        'p.json /exempt/1/expires: expires soon, "2026-06-10T00:00:00Z" (lapses 2026-06-10T00:00:00Z, in 8'
        ' days): the exemption for image_name eq "vendor/a" will stop applying; fix its images or renew it'
        " before then",
        'p.json /exempt/3/expires: expires soon, "2026-06-01T12:30:00Z" (lapses 2026-06-01T12:30:00Z, in 30'
        ' minutes): the exemption for image_name eq "vendor/a" will stop applying; fix its images or renew'
        " it before then",
    ]


def test_the_window_is_the_runs(tmp_path: Path) -> None:
    from imagewatch.policy.exemptions import EXPIRING_WINDOW_MS

    edge = NOW + EXPIRING_WINDOW_MS
    inside = policy_from_mapping(policy(exempt=[exempt(f"{_iso(edge)}")]))
    outside = policy_from_mapping(policy(exempt=[exempt(f"{_iso(edge + 1000)}")]))
    assert len(exemption_warnings([inside], NOW)) == 1 and exemption_warnings([outside], NOW) == []


def _iso(ms: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def test_warnings_do_not_fail_validation(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text(json.dumps(policy(exempt=[exempt("2026-05-01")])))
    out = io.StringIO()
    assert validate_cli([str(tmp_path)], out, now_ms=NOW) == 0
    assert out.getvalue().splitlines()[-1] == "1 file: 1 valid policy, 0 errors, 1 warning"


def test_condition_text_reads_like_the_policy() -> None:
    loaded = policy_from_mapping(
        policy(
            where={
                "any": [
                    {
                        "all": [
                            {"field": "image_name", "op": "glob", "value": "a/*"},
                            {"field": "vul_num", "op": "gt", "value": 3},
                        ]
                    },
                    {"not": {"field": "scan_status", "op": "exists"}},
                ]
            }
        )
    )
    assert loaded.where is not None
    assert (
        condition_text(loaded.where.node)
        == '(image_name glob "a/*" and vul_num gt 3) or not (scan_status exists)'
    )
    assert condition_text(loaded.where.node, limit=20) == "(image_name glob ..."


# -- the whole pass --------------------------------------------------------------------------------------


def test_one_pass_over_a_mixed_folder(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text(json.dumps(policy()))
    (tmp_path / "e.json").write_text(json.dumps({"source": "manual", "action": "check", "policies": ["p"]}))
    (tmp_path / "c.json").write_text(
        json.dumps({"channels": [{"name": "a", "url": "${A_URL}", "policies": ["p*"]}]})
    )
    (tmp_path / "twice.json").write_text('{"source": "manual", "action": "check", "action": "check"}')
    found = validate_files([str(tmp_path)], now_ms=NOW)
    assert found.errors == [
        f'{tmp_path / "twice.json"} /action: property "action" given twice (JSON keeps only the last)'
    ]
    assert (found.valid["event"], found.valid["channels"], len(found.policies.policies)) == (1, 1, 1)
    assert (
        found.summary()
        == "4 files: 1 valid policy, 1 valid event, 1 valid channels file, 1 error, 0 warnings"
    )


def test_missing_and_empty_paths_are_errors(tmp_path: Path) -> None:
    found = validate_files([str(tmp_path / "absent"), str(tmp_path)], now_ms=NOW)
    assert found.errors == [
        f"{tmp_path / 'absent'} /: no such file or folder",
        f"{tmp_path} /: no JSON files (*.json) found",
    ]


def test_a_fifo_in_a_folder_is_refused_not_waited_on(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "x.json")
    found = validate_files([str(tmp_path)], now_ms=NOW)
    assert found.errors == [f"{tmp_path / 'x.json'} /: a named pipe (FIFO); expected a regular file"]


def test_the_translator_and_the_hints_stay_off_the_lambdas_cold_start() -> None:
    probe = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import app; print(json.dumps(list(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(ROOT / "functions" / "checker")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = set(json.loads(done.stdout))
    assert not {"imagewatch.schema_errors", "imagewatch.suggest", "imagewatch.policy.validate"} & loaded


def test_severity_levels_and_fleet_operators_get_hints_too() -> None:
    with pytest.raises(PolicyLoadError) as refused:
        policy_from_mapping(policy(where={"field": "severity_level", "op": "gte", "value": "high"}))
    assert refused.value.errors[0].message.endswith("(ranked in that order) (did you mean 'High'?)")
    fleet = {
        "id": "f",
        "title": "t",
        "severity": "low",
        "message": "m",
        "fleet": {
            "ratio": {"where": {"field": "scan_status", "op": "eq", "value": "failed"}},
            "op": "less_than",
            "value": 0.1,
        },
    }
    with pytest.raises(PolicyLoadError) as refused:
        policy_from_mapping(fleet)
    assert [(e.pointer, e.message) for e in refused.value.errors] == [
        ("/fleet/op", "got \"less_than\", expected one of eq, ne, lt, lte, gt, gte (did you mean 'lt'?)")
    ]
