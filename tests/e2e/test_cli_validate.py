"""``imagewatch validate`` across the three kinds of file users write: policies, channels, events.

Each test runs the real entry point as a subprocess. Issue 14, point 5: every error in one pass, a
folder of events read as events, exit code 2 on any error, expired and expiring exemptions warned,
dates in examples, did-you-mean by meaning, no jsonschema text, no secret in any message.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from support.known_fleet import ROOT
from support.pack import FIXTURE_PACK

# jsonschema's own phrasing: none of it may reach a person.
RAW_JSONSCHEMA = (
    "is not of type",
    "is a required property",
    "Additional properties",
    "does not match",
    "is not one of",
    "should be non-empty",
    "is too short",
    "has non-unique elements",
)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "imagewatch.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def validate(*paths: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return cli("validate", *paths, env=env)


def write(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
    return path


def policy(**changes: object) -> dict:
    return {
        "id": "p",
        "title": "t",
        "severity": "low",
        "message": "m",
        "where": {"field": "vul_num", "op": "gt", "value": 0},
        **changes,
    }


def test_shipped_events_are_valid_and_name_policies_that_exist() -> None:
    """Checked with the tests' own pack: ``policy-subset.json`` names two of its policies."""
    events = sorted(str(p) for p in (ROOT / "events").glob("*.json"))
    result = validate(*events, str(FIXTURE_PACK))
    assert result.returncode == 0, result.stdout
    assert result.stdout.count(": valid event") == len(events)
    summary = result.stdout.splitlines()[-1]
    assert re.fullmatch(
        rf"\d+ files: \d+ valid polic(y|ies), {len(events)} valid events, 0 errors, .*", summary
    )


def test_a_folder_of_events_is_read_as_events() -> None:
    """Issue 14: ``validate events/`` read each event as a policy (18 false errors, exit 1)."""
    events = sorted((ROOT / "events").glob("*.json"))
    result = validate("events/")
    assert result.returncode == 0, result.stdout
    assert "missing required property" not in result.stdout
    assert (
        result.stdout.splitlines()[-1]
        == f"{len(events)} files: {len(events)} valid events, 0 errors, 0 warnings"
    )


def test_a_mixed_folder_judges_each_file_by_its_content(tmp_path: Path) -> None:
    folder = tmp_path / "config"
    write(folder / "policies" / "p.json", policy())
    write(folder / "run-now.json", {"source": "manual", "action": "check", "dry_run": True})
    write(folder / "nightly.json", {"source": "schedule", "scheduled_time": "2026-11-26T08:00:00Z"})
    write(folder / "chat.json", {"channels": [{"name": "ops", "url": "${OPS_URL}", "platform": "slack"}]})
    result = validate(str(folder))
    assert result.returncode == 0, result.stdout
    assert f"{folder / 'run-now.json'}: valid event" in result.stdout
    assert f"{folder / 'chat.json'}: valid channels file" in result.stdout
    assert result.stdout.splitlines()[-1] == (
        "4 files: 1 valid policy, 2 valid events, 1 valid channels file, 0 errors, 0 warnings"
    )


def test_validate_without_paths_reads_the_policy_folder_and_refuses_what_a_run_would_misread(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "pack"
    write(folder / "p.json", policy())
    assert validate(env={"POLICY_PATH": str(folder)}).stdout.splitlines() == [
        "1 file: 1 valid policy, 0 errors, 0 warnings"
    ]
    write(folder / "event.json", {"source": "manual", "action": "check"})
    result = validate(env={"POLICY_PATH": str(folder)})
    assert result.returncode == 2
    assert (
        f"{folder / 'event.json'} /: an event, inside the policy folder {folder}: a run reads every *.json"
        " file there as a policy; move it out"
    ) in result.stdout


def test_every_error_of_every_kind_in_one_pass(tmp_path: Path) -> None:
    """A policy missing severity and message reports both; a channels file its schema errors and the
    rest together; an event every problem; exit code 2 (a configuration error)."""
    bad_policy = write(
        tmp_path / "policy.json", {"id": "p", "title": "t", "where": {"field": "vul_num", "op": "exists"}}
    )
    channels = write(
        tmp_path / "channels.json",
        {
            "channels": [
                {"name": "ops", "url": "${OPS_URL}", "platform": "slak", "colour": "red"},
                {"name": "ops", "url": "${HSS_SK}", "repeat_interval": "soon"},
            ]
        },
    )
    event = write(tmp_path / "event.json", {"source": "manual", "action": "resend", "dryrun": True})
    result = validate(str(bad_policy), str(channels), str(event))
    assert result.returncode == 2, result.stdout
    lines = result.stdout.splitlines()
    assert lines == [
        f'{bad_policy} /: missing required property "severity"',
        f'{bad_policy} /: missing required property "message"',
        f'{channels} /channels/0/colour: unexpected property "colour"; expected one of labels, mentions,'
        " min_severity, name, overdue, overdue_by, platform, policies, repeat_interval, secret,"
        " send_resolved, url",
        f'{channels} /channels/0/platform: got "slak", expected one of slack, teams, feishu, lark, dingtalk,'
        " wecom, discord, googlechat, generic (did you mean 'slack'?)",
        f"{channels} /channels/1/name: 'ops' is used by another channel; names must be unique",
        f'{channels} /channels/1/repeat_interval: got "soon", expected a duration: a positive whole number'
        " and one unit of s, m, h, d, w (e.g. '90m', '36h', '7d')",
        f"{channels} /channels/1/url: ${{HSS_SK}} may not be referenced (expected a channel setting:"
        " WEBHOOK_*, CHANNEL_*, IMAGEWATCH_* or *_URL, *_WEBHOOK, *_SECRET (never AWS_*, HSS_*, LAMBDA_*,"
        " SETTINGS_*, POWERTOOLS_* or _*))",
        f"{event} /channel: required by action 'resend' (the channel to send everything open to)",
        f"{event} /dryrun: unexpected property \"dryrun\" (did you mean 'dry_run'?); expected one of action,"
        " channel, dry_run, policies, source, target",
        "3 files: 0 valid policies, 0 valid events, 0 valid channels files, 9 errors, 0 warnings",
    ]


def test_no_raw_jsonschema_text_for_events_and_channels(tmp_path: Path) -> None:
    files = [
        write(tmp_path / "e1.json", {"source": "schedule", "scheduled_time": 5, "dry_run": "yes", "x": 1}),
        write(tmp_path / "e2.json", {"source": "manual", "action": "check", "policies": []}),
        write(tmp_path / "e3.json", {"source": "manual", "action": "check", "policies": ["a", "a"]}),
        write(tmp_path / "e4.json", {"source": "manual", "action": "resend", "channel": "Bad Name"}),
        write(tmp_path / "e5.json", {"source": "manual", "action": "check", "target": {"region": "North 4"}}),
        write(tmp_path / "c1.json", {"channels": []}),
        write(
            tmp_path / "c2.json", {"channels": [{"name": "x", "min_severity": "urgent", "mentions": [""]}]}
        ),
        write(tmp_path / "c3.json", {"channels": "ops"}),
    ]
    result = validate(*map(str, files))
    assert result.returncode == 2
    assert [text for text in RAW_JSONSCHEMA if text in result.stdout] == [], result.stdout
    for expected in (
        "/scheduled_time: got 5, expected a string",
        '/dry_run: got "yes", expected a boolean',
        "/policies: got [], expected a list of at least 1 item(s)",
        '/policies: "a" is listed twice; expected each item once',
        '/channel: got "Bad Name", expected a name of 1 to 64 lowercase letters',
        '/target: missing required property "name" (the target\'s name, such as "prod-cn4")',
        '/target/region: got "North 4", expected a region id such as "cn-north-4"',
        '/channels/0/min_severity: got "urgent", expected one of critical, high, medium, low, info',
        '/channels/0/mentions/0: got "", expected a string of at least 1 character(s)',
        '/channels: got "ops", expected a list',
    ):
        assert expected in result.stdout, expected


def test_did_you_mean_goes_by_meaning_everywhere(tmp_path: Path) -> None:
    files = [
        write(tmp_path / "op.json", policy(where={"field": "vul_num", "op": "greater_than", "value": 1})),
        write(tmp_path / "sev.json", policy(id="q", severity="hgh", subject="imgae")),
        write(
            tmp_path / "field.json",
            policy(id="r", where={"field": "vuln_num", "op": "less_than", "value": 1}),
        ),
        write(tmp_path / "ev.json", {"source": "schedul"}),
        write(tmp_path / "ch.json", {"channels": [{"name": "x", "url": "${X_URL}", "platform": "Teams"}]}),
    ]
    out = validate(*map(str, files)).stdout
    assert '/where/op: got "greater_than", expected one of eq, ne, lt, lte, gt, gte' in out
    assert "within (did you mean 'gt'?)" in out
    assert "(did you mean 'older_than'?)" not in out
    assert (
        "/severity: got \"hgh\", expected one of critical, high, medium, low, info (did you mean 'high'?)"
        in out
    )
    assert "/subject: got \"imgae\", expected one of image, record (did you mean 'image'?)" in out
    assert "(did you mean 'vul_num'?)" in out and "(did you mean 'lt'?)" in out
    assert "(did you mean 'schedule'?)" in out
    assert "(did you mean 'teams'?)" in out


def test_expired_and_soon_expiring_exemptions_are_warned_and_do_not_fail(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    expired = (now - timedelta(days=30, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    soon = (now + timedelta(days=5, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (now + timedelta(days=60)).strftime("%Y-%m-%d")
    exempt = [
        {
            "where": {"field": "image_name", "op": "eq", "value": "vendor/a"},
            "reason": "r",
            "expires": expired,
        },
        {
            "where": {
                "all": [
                    {"field": "image_name", "op": "glob", "value": "vendor/*"},
                    {"field": "vul_num", "op": "lt", "value": 5},
                ]
            },
            "reason": "r",
            "owner": "payments",
            "expires": soon,
        },
        {"where": {"field": "image_name", "op": "eq", "value": "vendor/c"}, "reason": "r", "expires": later},
        {
            "where": {"field": "image_name", "op": "eq", "value": "vendor/d"},
            "reason": "r",
            "expires": "never",
        },
    ]
    path = write(tmp_path / "p.json", policy(exempt=exempt))
    result = validate(str(path))
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines == [
        f'warning: {path} /exempt/0/expires: expired "{expired}" (lapsed {expired}, 30 days ago):'
        ' the exemption for image_name eq "vendor/a" no longer applies, so its images are violations again;'
        " renew it with a later date, or remove it",
        f'warning: {path} /exempt/1/expires: expires soon, "{soon}" (lapses {soon}, in 5 days): the exemption'
        ' for image_name glob "vendor/*" and vul_num lt 5 (owner payments) will stop applying; fix its images'
        " or renew it before then",
        "1 file: 1 valid policy, 0 errors, 2 warnings",
    ]


def test_examples_take_dates_wherever_conditions_do(tmp_path: Path) -> None:
    dated = policy(
        where={"field": "latest_update_time", "op": "lt", "value": "2026-01-01"},
        examples=[
            {"expect": "violation", "image": {"latest_update_time": "2025-12-31"}},
            {"expect": "pass", "image": {"latest_update_time": "2026-01-01T08:00:00+08:00"}},
            {"expect": "pass", "image": {"latest_update_time": 1767225600000}},
        ],
    )
    path = write(tmp_path / "dated.json", dated)
    assert validate(str(path)).returncode == 0
    tested = cli("test", str(path))
    assert (tested.returncode, tested.stdout) == (0, "3 examples, 0 failed\n")
    broken = write(
        tmp_path / "broken.json",
        {**dated, "examples": [{"expect": "pass", "image": {"latest_scan_time": "2026-02-30"}}]},
    )
    result = validate(str(broken))
    assert result.returncode == 2
    assert (
        f'{broken} /examples/0/image/latest_scan_time: got "2026-02-30", expected milliseconds since the'
        " epoch, a date 'YYYY-MM-DD', or an ISO timestamp with a timezone such as '2026-03-31T18:00:00Z'"
    ) in result.stdout


def test_imagewatch_test_exit_codes(tmp_path: Path) -> None:
    failing = write(
        tmp_path / "failing" / "p.json", policy(examples=[{"expect": "pass", "image": {"vul_num": 3}}])
    )
    assert cli("test", str(failing)).returncode == 1
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "p.json").write_text("{")
    assert cli("test", str(tmp_path / "broken")).returncode == 2


def test_files_read_together_are_checked_together(tmp_path: Path) -> None:
    """An event names policies and a channel, a channel names policy globs: a typo in either would make
    a run check nothing, or send nothing."""
    channels = write(
        tmp_path / "channels.json",
        {"channels": [{"name": "oncall", "url": "${ONCALL_URL}", "policies": ["high-sevrity"]}]},
    )
    resend = write(tmp_path / "resend.json", {"source": "manual", "action": "resend", "channel": "oncal"})
    subset = write(
        tmp_path / "subset.json", {"source": "manual", "action": "check", "policies": ["scan-faild"]}
    )
    result = validate(str(channels), str(resend), str(subset), str(FIXTURE_PACK))
    assert result.returncode == 2
    assert (
        f'{resend} /channel: no channel "oncal" in the channels file given with it'
        " (did you mean 'oncall'?); expected one of oncall"
    ) in result.stdout
    assert (
        f'{subset} /policies/0: no policy "scan-faild" among the valid policies given with it'
        " (did you mean 'scan-failed'?); a run would check none by that id"
    ) in result.stdout
    assert (
        f'warning: {channels} /channels/0/policies/0: "high-sevrity" matches none of the valid policies given'
        " with it (did you mean 'high-severity'?); the channel hears nothing from it"
    ) in result.stdout


def test_no_secret_in_any_message(tmp_path: Path) -> None:
    secret_url = "https://hooks.slack.com/services/T0/B0/planted-webhook-token"
    env = {"ONCALL_URL": secret_url, "WEBHOOK_URL": secret_url, "HSS_SK": "planted-hss-sk"}
    channels = write(
        tmp_path / "channels.json",
        {
            "channels": [
                {"name": "a", "url": "${HSS_SK}", "secret": 12345678},
                {"name": "b", "url": "${ONCALL_URL}", "secret": ["planted-inline-secret"]},
                {"name": "c", "url": ["http://user:planted-password@hooks.example"]},
            ]
        },
    )
    event = write(
        tmp_path / "event.json",
        {
            "source": "manual",
            "action": "check",
            "target": {
                "name": "x",
                "endpoint": "https://admin:planted-password@hss.example.com",
                "settings_secret": "planted secret id",
            },
        },
    )
    result = validate(str(channels), str(event), env=env)
    assert result.returncode == 2
    output = result.stdout + result.stderr
    for planted in (
        "planted-webhook-token",
        "planted-hss-sk",
        "planted-password",
        "planted-inline-secret",
        "12345678",
        "planted secret id",
    ):
        assert planted not in output, planted
    assert "/channels/0/secret: got an integer (not shown: it may hold a secret), expected a string" in output
