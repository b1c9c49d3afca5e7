"""Invocation events: each shipped event file parses; malformed ones say where and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagewatch.events import EventError, parse_event

EVENTS = Path(__file__).resolve().parents[2] / "events"


def test_shipped_events_parse() -> None:
    requests = {path.name: parse_event(json.loads(path.read_text())) for path in EVENTS.glob("*.json")}
    assert requests["scheduled.json"].trigger == "schedule"
    assert requests["scheduled.json"].scheduled_time == "2026-11-26T08:00:00Z"
    assert requests["eventbridge-scheduled.json"].trigger == "eventbridge"
    assert requests["dry-run.json"].dry_run is True
    assert requests["policy-subset.json"].policy_ids == ("high-severity", "malicious-files")
    assert requests["test-notification.json"].action == "test-notification"
    assert (requests["resend-open.json"].action, requests["resend-open.json"].channel) == (
        "resend",
        "default",
    )


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ([], "expected a JSON object"),
        ({}, '/source: missing required property "source", expected one of aws.events, manual, schedule'),
        ({"source": "sqs"}, '/source: got "sqs", expected one of aws.events, manual, schedule'),
        ({"source": "schedul"}, "expected one of aws.events, manual, schedule (did you mean 'schedule'?)"),
        ({"source": "schedule"}, '/: missing required property "scheduled_time" (an ISO timestamp such as'),
        (
            {"source": "schedule", "scheduled_time": "yesterday"},
            '/scheduled_time: got "yesterday", expected an ISO timestamp such as "2026-11-26T08:00:00Z"',
        ),
        (
            {"source": "manual", "action": "check", "dry_run": "yes"},
            '/dry_run: got "yes", expected a boolean',
        ),
        (
            {"source": "manual", "action": "explode"},
            '/action: got "explode", expected one of check, test-notification, resend',
        ),
        ({"source": "manual", "action": "resend"}, "/channel: required by action 'resend'"),
        ({"source": "manual", "action": "check", "channel": "ops"}, "/channel: not used by action 'check'"),
        (
            {"source": "manual", "action": "test-notification", "dry_run": True},
            "/dry_run: not used by action",
        ),
        (
            {"source": "manual", "action": "resend", "channel": "Bad Name"},
            '/channel: got "Bad Name", expected a name of 1 to 64 lowercase letters',
        ),
        (
            {"source": "manual", "action": "check", "policies": []},
            "/policies: got [], expected a list of at least 1 item(s)",
        ),
        (
            {"source": "manual", "action": "check", "dryrun": True},
            "/dryrun: unexpected property \"dryrun\" (did you mean 'dry_run'?); expected one of action,",
        ),
    ],
)
def test_malformed_events_name_pointer_and_expectation(event: object, fragment: str) -> None:
    with pytest.raises(EventError) as caught:
        parse_event(event)
    assert fragment in str(caught.value)


def test_manual_subset() -> None:
    request = parse_event({"source": "manual", "action": "check", "policies": ["a", "b"]})
    assert request.policy_ids == ("a", "b") and not request.dry_run


def test_a_target_travels_in_scheduled_and_manual_events() -> None:
    target = {"name": "prod-cn4", "region": "cn-north-4", "project_id": "p", "settings_secret": "arn:x"}
    assert (
        parse_event({"source": "schedule", "scheduled_time": "2026-11-26T08:00:00Z", "target": target}).target
        == target
    )
    assert parse_event({"source": "manual", "action": "check", "target": target}).target == target
    with pytest.raises(EventError, match='/target: missing required property "name"'):
        parse_event({"source": "manual", "action": "check", "target": {"region": "cn-north-4"}})
    with pytest.raises(EventError, match='/target/region: got "North 4", expected a region id'):
        parse_event({"source": "manual", "action": "check", "target": {"name": "x", "region": "North 4"}})


def test_hostile_events_get_short_clear_errors() -> None:
    deep: list = []
    node = deep
    for _ in range(5000):
        node.append([])
        node = node[0]
    with pytest.raises(EventError, match=r"^event: nested too deeply"):
        parse_event({"source": "manual", "action": "check", "policies": deep})
    with pytest.raises(EventError, match=r"^event: nested too deeply"):  # before the source is quoted
        parse_event({"source": deep})
    with pytest.raises(EventError, match=r"^event: nested too deeply"):
        parse_event({"source": "manual", "action": "check", "target": {"name": {"x": deep}}})
    shallow = {"source": "manual", "action": "check", "policies": [[[["p"]]]]}  # wrong, but not a bomb
    with pytest.raises(EventError, match=r'^/policies/0: got \[\[\["p"\]\]\], expected a string'):
        parse_event(shallow)
    with pytest.raises(EventError) as huge:
        parse_event({"source": "schedule", "scheduled_time": "x" * 1_000_000})
    assert str(huge.value).startswith('/scheduled_time: got "xxx') and len(str(huge.value)) <= 300
    with pytest.raises(EventError) as wrong:
        parse_event({"source": "y" * 100_000})
    assert len(str(wrong.value)) <= 300


# -- issue 12 row 2: where an event may send the deployment's credentials ------------------------------

OPERATOR = {"HSS_PROJECT_ID": "p", "HSS_REGION": "cn-north-4", "HSS_AUTH_TOKEN": "deployment-token"}
FOREIGN_ENDPOINTS = [
    "http://127.0.0.1:18041",  # the review's repro
    "https://127.0.0.1:18041",
    "http://localhost:18041",
    "https://evil.example.com",
    "https://169.254.169.254",
    "https://hss.cn-north-4.myhuaweicloud.com.evil.example",
    "https://evilmyhuaweicloud.com",
    "https://hss.cn-north-4.evilmyhuaweicloud.com",
    "https://bucket.obs.cn-north-4.myhuaweicloud.com",  # a customer-named host on Huawei's domain
    "https://myhuaweicloud.com",
    "http://hss.cn-north-4.myhuaweicloud.com",  # not https
    "https://hss.cn-north-4.myhuaweicloud.com:8443",
    "https://hss.cn-north-4.myhuaweicloud.com.",
    "https://hss.cn-north-4.myhuaweicloud.com?x=1",
    "https://hss.cn-north-4.myhuaweicloud.com#frag",
    "https://admin:PW-0000@hss.cn-north-4.myhuaweicloud.com",
    "https://evil.example\\@hss.cn-north-4.myhuaweicloud.com",
    "https://hss.cn-north-4.myhuaweicloud.com\t.evil.example",
    "https://hss.cn-north-4.myhuaweicloud.com\n",
    "ftp://hss.cn-north-4.myhuaweicloud.com",
]


def _event(target: dict) -> dict:
    return {"source": "manual", "action": "check", "target": {"name": "prod", **target}}


@pytest.mark.parametrize("endpoint", FOREIGN_ENDPOINTS)
def test_an_event_cannot_point_the_deployments_credentials_elsewhere(endpoint: str) -> None:
    """Issue 12 row 2: {"target": {"endpoint": "http://127.0.0.1:18041"}} sent the deployment's
    X-Auth-Token (or IAM password) there. An event endpoint must be Huawei Cloud's HSS host, the
    configured endpoint's, or in HSS_ENDPOINT_ALLOWLIST; the error names the pointer, never a password."""
    from imagewatch.handler import target_env

    with pytest.raises(EventError) as caught:
        target_env(OPERATOR, parse_event(_event({"endpoint": endpoint})).target)
    assert str(caught.value).startswith("/target/endpoint: got ") and "PW-0000" not in str(caught.value)


def test_huawei_hss_endpoints_the_configured_one_and_allowlisted_hosts_are_accepted() -> None:
    """Issue 12 row 2, the other side: the endpoints an operator means stay usable from events."""
    from imagewatch.handler import target_env

    for endpoint in (
        "https://hss.ap-southeast-1.myhuaweicloud.com",
        "https://HSS.cn-north-4.myhuaweicloud.com:443/",
        "https://hss.eu-west-101.myhuaweicloud.eu",
    ):
        assert target_env(OPERATOR, _event({"endpoint": endpoint})["target"])["HSS_ENDPOINT"] == endpoint
    configured = {**OPERATOR, "HSS_ENDPOINT": "http://127.0.0.1:18041"}
    assert target_env(configured, {"name": "x", "endpoint": "http://127.0.0.1:18041/"})["HSS_ENDPOINT"]
    with pytest.raises(EventError):
        target_env(configured, {"name": "x", "endpoint": "http://127.0.0.1:18042"})  # another port
    listed = {**OPERATOR, "HSS_ENDPOINT_ALLOWLIST": "127.0.0.1:18041, hss-proxy.corp.example"}
    for endpoint in (
        "http://127.0.0.1:18041",
        "https://hss-proxy.corp.example",
        "https://hss-proxy.corp.example:9",
    ):
        assert target_env(listed, {"name": "x", "endpoint": endpoint})["HSS_ENDPOINT"] == endpoint
    for endpoint in ("http://127.0.0.1:18042", "http://hss-proxy.corp.example", "https://corp.example"):
        with pytest.raises(EventError, match=r"^/target/endpoint: got"):
            target_env(listed, {"name": "x", "endpoint": endpoint})


@pytest.mark.parametrize(
    ("target", "pointer"),
    [
        ({"region": "cn-north-4.evil.example"}, "/target/region"),
        ({"region": "cn-" + "x" * 60}, "/target/region"),
        ({"project_id": "proj/../../other"}, "/target/project_id"),
        ({"project_id": "proj?x=1"}, "/target/project_id"),
        ({"enterprise_project_id": "0/../x"}, "/target/enterprise_project_id"),
        ({"settings_secret": "imagewatch/targets/x\n"}, "/target/settings_secret"),
        ({"settings_secret": "name with spaces"}, "/target/settings_secret"),
    ],
)
def test_target_fields_that_choose_where_credentials_go_are_ids(target: dict, pointer: str) -> None:
    """Issue 12 row 2: region, project, enterprise project and secret name shape the endpoint's host, the
    API path and the ledger partition key; each is an id and nothing more."""
    from imagewatch.handler import target_env

    with pytest.raises(EventError, match=f"^{pointer}: "):
        target_env(OPERATOR, parse_event(_event(target)).target)
