"""The CLI's pure parts: the exit code a summary earns, the human summary, the progress line, flags."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys

import pytest

from imagewatch.alerts.store import LeaseHeldError, StateStoreError
from imagewatch.commands import human, progress
from imagewatch.commands.exit_codes import (
    HELP,
    ExitCode,
    at_or_above,
    exit_code_for,
    exit_code_for_error,
    reasons_for,
)
from imagewatch.commands.preview import channel_problem
from imagewatch.commands.verbosity import log_level
from imagewatch.hss.errors import HssApiError, HssTransportError, InvalidQueryError
from imagewatch.settings import SettingsError
from support.known_fleet import ROOT


def query(complete: bool = True, images: int = 10) -> dict:
    return {"filters": {}, "policies": ["p"], "images": images, "pages": 1, "complete": complete}


def summary(**overrides: object) -> dict:
    """A successful run's summary; each test breaks one part of it."""
    base = {
        "run_id": "r1",
        "action": "check",
        "dry_run": False,
        "target": "hss.example/proj/0",
        "policies": {"evaluated": ["p"], "invalid": []},
        "queries": [query()],
        "images_evaluated": 10,
        "violations": {"total": 5, "by_severity": {"critical": 1, "high": 2, "medium": 2}},
        "new": 5,
        "resolved": 0,
        "still_open": 0,
        "notifications": {"sent": 1, "failed": 0, "channels": []},
        "exemptions": {"applied": 0, "expired": [], "expiring_soon": []},
        "problems": [],
        "errors": [],
        "status": "ok",
    }
    return base | overrides


# -- exit codes ------------------------------------------------------------------------------------


def test_a_run_that_did_its_job_exits_0_whatever_it_found() -> None:
    assert exit_code_for(summary()) is ExitCode.OK
    assert exit_code_for(summary(), fail_on=None) is ExitCode.OK


@pytest.mark.parametrize(
    ("fail_on", "code"),
    [("critical", 1), ("high", 1), ("medium", 1), ("low", 1), ("info", 1)],
)
def test_fail_on_counts_that_severity_and_worse(fail_on: str, code: int) -> None:
    assert exit_code_for(summary(), fail_on) == code


def test_fail_on_ignores_what_is_below_the_gate() -> None:
    only_medium = summary(violations={"total": 2, "by_severity": {"medium": 2}})
    assert exit_code_for(only_medium, "high") is ExitCode.OK
    assert exit_code_for(only_medium, "medium") is ExitCode.VIOLATIONS
    assert at_or_above({"critical": 1, "high": 2, "medium": 4, "low": 8}, "high") == 3
    assert at_or_above({}, "info") == 0


def test_an_unreadable_hss_is_3_never_0() -> None:
    failed = summary(status="failed", queries=[query(False, 0)], violations={"total": 0, "by_severity": {}})
    assert exit_code_for(failed) is ExitCode.HSS
    assert reasons_for(failed)[ExitCode.HSS] == "no inventory could be read"


def test_an_incomplete_listing_is_3_even_with_violations_found() -> None:
    partial = summary(status="partial", queries=[query(), query(False, 3)], problems=["incomplete read of x"])
    assert exit_code_for(partial, "critical") is ExitCode.HSS
    assert reasons_for(partial)[ExitCode.HSS] == "1 of 2 listings incomplete"


def test_a_failed_channel_is_4_and_outranks_violations() -> None:
    undelivered = summary(notifications={"sent": 0, "failed": 1, "channels": []})
    assert exit_code_for(undelivered) is ExitCode.DELIVERY
    assert exit_code_for(undelivered, "low") is ExitCode.DELIVERY


def test_configuration_errors_in_the_summary_are_2() -> None:
    assert exit_code_for(summary(errors=["policy 'x' requested but not loaded"])) is ExitCode.CONFIG
    invalid = summary(policies={"evaluated": [], "invalid": ["policies/a.json /severity: bad"]})
    assert exit_code_for(invalid) is ExitCode.CONFIG
    assert reasons_for(invalid)[ExitCode.CONFIG] == "1 policy file error(s)"


def test_a_run_skipped_for_the_lease_is_5() -> None:
    skipped = {"run_id": "r", "target": "t", "status": "skipped", "errors": ["lease held by run r0"]}
    assert exit_code_for(skipped) is ExitCode.BUSY
    assert "lease held" in reasons_for(skipped)[ExitCode.BUSY]


def test_precedence_is_config_then_hss_then_store_then_delivery_then_violations() -> None:
    everything = summary(
        status="partial",
        queries=[query(False, 1)],
        errors=["resend: no channel named 'x'"],
        notifications={"sent": 0, "failed": 2, "channels": []},
    )
    assert set(reasons_for(everything, "low")) == {
        ExitCode.CONFIG,
        ExitCode.HSS,
        ExitCode.DELIVERY,
        ExitCode.VIOLATIONS,
    }
    assert exit_code_for(everything, "low") is ExitCode.CONFIG
    del everything["errors"]
    assert exit_code_for(everything, "low") is ExitCode.HSS


def test_a_test_notification_is_judged_by_its_channels() -> None:
    base = {"action": "test-notification", "target": "t", "errors": [], "status": "ok"}
    sent = base | {"notifications": {"sent": 1, "failed": 0, "channels": []}}
    assert exit_code_for(sent) is ExitCode.OK
    refused = base | {"status": "failed", "notifications": {"sent": 0, "failed": 1, "channels": []}}
    assert exit_code_for(refused) is ExitCode.DELIVERY  # not an HSS failure: nothing was read
    none = base | {"status": "failed", "errors": ["no channel configured"], "notifications": {"failed": 0}}
    assert exit_code_for(none) is ExitCode.CONFIG


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (SettingsError("HSS_PROJECT_ID", None, "the HSS project id"), ExitCode.CONFIG),
        (InvalidQueryError("limit", 0, "1..200"), ExitCode.CONFIG),  # an HssError that is a ValueError
        (ValueError("event: /source"), ExitCode.CONFIG),
        (HssApiError(401, "APIG.0301", "bad signature", "rid"), ExitCode.HSS),
        (HssTransportError("connection refused"), ExitCode.HSS),
        (StateStoreError("state store x: disk I/O error"), ExitCode.STORE),
        (LeaseHeldError("t", "r0", 1), ExitCode.BUSY),
        (PermissionError(13, "Permission denied", "/reports"), ExitCode.STORE),
    ],
)
def test_errors_that_escape_a_command_map_to_the_contract(error: Exception, code: ExitCode) -> None:
    assert exit_code_for_error(error) is code


def test_a_bug_is_not_dressed_up_as_an_exit_code() -> None:
    assert exit_code_for_error(KeyError("oops")) is None


def test_the_help_table_lists_every_code_and_the_precedence() -> None:
    for code in ExitCode:
        assert f"\n  {int(code)}  " in HELP
    assert HELP.endswith("when several apply: 2, then 3, then 5, then 6, then 4, then 1")


# -- the human summary -----------------------------------------------------------------------------


HOSTILE_DETAIL = "HTTP 500 \x1b]0;PWNED\x07\x1b[2J\x1b[31mbad gateway\x1b[0m"  # a peer's answer, quoted


def full_summary() -> dict:
    return summary(
        records_read=4930,
        images=400,
        queries=[query() | {"pages": 25, "retries": 2, "throttled": 1}],
        fleet_rules=[
            {"policy_id": "fleet-scan-coverage", "title": "Coverage", "severity": "medium", "passed": True,
             "text": "7.5% of images unscanned (372 of 4930), at most 10%"},
            {"policy_id": "fleet-fresh", "title": "Fresh", "severity": "high", "passed": False,
             "text": "30.0% stale (3 of 10), at most 1%"},
        ],
        notifications={
            "sent": 1,
            "failed": 1,
            "channels": [
                {"channel": "ops", "platform": "slack", "ok": True, "attempts": 1, "detail": "delivered",
                 "alerts": {"new": 5}},
                {"channel": "oncall", "platform": "teams", "ok": False, "attempts": 3,
                 "detail": HOSTILE_DETAIL, "alerts": {"new": 5}},
            ],
        },
        exemptions={
            "applied": 3,
            "expired": [{"policy_id": "high-severity", "pointer": "/exempt/1", "expires": "2020-01-01",
                         "subjects": ["0b5c…@9f1e…"], "labels": ["shop/g:1.0"]}],
            "expiring_soon": [],
        },
        warnings=["no channel for severity low"],
        report={"json": "/r/run.json", "csv": "/r/run.violations.csv.gz"},
    )  # fmt: skip


def test_the_human_summary_says_what_a_person_needs_in_a_few_lines() -> None:
    done = full_summary()
    text = human.render_plain(human.summary_rows(done, reasons_for(done)))
    lines = text.splitlines()
    assert lines[0] == "target       hss.example/proj/0 · run r1"
    assert "status       ok (1 channel(s) failed to deliver)" in lines
    assert (
        "read         4,930 records · 400 distinct images · 1 listing, 25 pages, 2 retries (1 throttled)"
        in lines
    )
    assert "violations   5: 1 critical · 2 high · 2 medium" in lines
    assert "alerts       5 new · 0 resolved · 0 still open" in lines
    assert "fleet rules  ✓ fleet-scan-coverage  7.5% of images unscanned (372 of 4930), at most 10%" in lines
    assert "             ✗ fleet-fresh  30.0% stale (3 of 10), at most 1%" in lines
    assert "channels     ✓ ops (slack): delivered · 5 new" in lines
    assert "             ✗ oncall (teams): HTTP 500 bad gateway after 3 attempts · 5 new" in lines
    assert "exemptions   3 records let pass" in lines
    assert "             high-severity/exempt/1 expired 2020-01-01: shop/g:1.0" in lines  # the label, not ids
    assert "warnings     ! no channel for severity low" in lines
    assert "report       /r/run.json" in lines and "             /r/run.violations.csv.gz" in lines
    assert lines[-1] == "exit         4: a channel failed to deliver"
    assert "\x1b" not in text and "PWNED" not in text  # a peer's escapes (a window title) are gone


def test_a_failed_read_says_why_and_lists_the_problems() -> None:
    failed = summary(
        status="failed",
        queries=[query(False, 0)],
        violations={"total": 0, "by_severity": {}},
        new=0,
        problems=[f"incomplete read of q{i}: HSS answered HTTP 401" for i in range(7)],
    )
    lines = human.render_plain(human.summary_rows(failed, reasons_for(failed))).splitlines()
    assert "status      failed (no inventory could be read)" in lines
    assert "            incomplete read of q0: HSS answered HTTP 401" in lines
    assert "            …and 2 more" in lines
    assert "violations  none" in lines
    assert lines[-1] == "exit        3: HSS read failed or incomplete"


def test_the_summary_before_run_facts_uses_the_evaluated_count() -> None:
    """Without ``records_read``/``images`` (older summaries), the row still reads."""
    lines = human.render_plain(human.summary_rows(summary())).splitlines()
    assert "read        10 records evaluated · 1 listing, 1 pages" in lines
    assert not any(line.startswith("exit") for line in lines)


def test_fail_on_shows_the_gate_in_the_exit_row() -> None:
    lines = human.render_plain(human.summary_rows(summary(), reasons_for(summary(), "high"))).splitlines()
    assert (
        lines[-1]
        == "exit        1: violations at or above --fail-on SEVERITY (3 violation(s) at or above high)"
    )


def test_a_dry_run_names_the_channels_it_would_send_to() -> None:
    dry = summary(dry_run=True, digests=[{"channel": "ops", "platform": "slack", "payload": {}}])
    lines = human.render_plain(human.summary_rows(dry)).splitlines()
    assert lines[0] == "target      hss.example/proj/0 · dry run: nothing sent or recorded · run r1"
    assert "channels    → ops (slack): would send" in lines


def test_the_rich_table_has_colour_and_the_same_words() -> None:
    out = io.StringIO()
    done = full_summary()
    human.render_rich(human.summary_rows(done, reasons_for(done)), out, force_terminal=True, width=200)
    drawn = out.getvalue()
    assert "\x1b[" in drawn  # coloured
    plain = progress_free(drawn)
    assert "fleet rules  ✓ fleet-scan-coverage" in plain and "shop/g:1.0" in plain
    assert "bad gateway" in plain and "PWNED" not in drawn and "\x1b[2J" not in drawn  # quoted text stripped


def progress_free(text: str) -> str:
    from imagewatch.terminal import strip_controls

    return strip_controls(text)


# -- progress --------------------------------------------------------------------------------------


def test_progress_rate_and_eta_come_from_pages_and_the_clock() -> None:
    tracker = progress.ProgressTracker()
    first = tracker.observe("L1", "all images", pages=1, records=200, total=5000, page_size=200, now=10.0)
    assert (first.rate, first.eta_s, first.pages_total) == (None, None, 25)
    later = tracker.observe(
        "L1", "all images", pages=5, records=1000, total=5000, page_size=200, retries=3, throttled=1, now=12.0
    )
    assert later.rate == 400.0 and later.eta_s == 10.0
    assert progress.describe(later) == (
        "reading all images · page 5/25 · 1,000/5,000 records · 400/s · ETA 0:10 · 3 retries (1 throttled)"
    )


def test_a_new_listing_starts_its_own_rate() -> None:
    tracker = progress.ProgressTracker()
    tracker.observe("L1", "a", pages=25, records=5000, total=5000, page_size=200, now=0.0)
    tracker.observe("L1", "a", pages=25, records=5000, total=5000, page_size=200, now=100.0)
    second = tracker.observe("L2", "b", pages=1, records=200, total=400, page_size=200, now=101.0)
    assert second.rate is None
    assert progress.describe(second) == "reading b · page 1/2 · 200/400 records"


def test_long_reads_show_hours() -> None:
    snap = progress.Snapshot("x", 1, None, 10, None, 1.0, 3725.0, 0, 0)
    assert progress.describe(snap) == "reading x · page 1 · 10 records · 1/s · ETA 1:02:05"


class FakeQuery:
    def describe(self) -> str:
        return "scan_status=success"


class FakeStats:
    def __init__(self) -> None:
        self.pages = self.records = self.retries = self.throttled = 0
        self.last_total: int | None = 600


class FakeListing:
    """What ``TerminalProgress`` reads of a ``hss.paging.Listing``."""

    def __init__(self) -> None:
        self.stats = FakeStats()
        self.query = FakeQuery()
        self.start_offset = 0
        self.client = argparse.Namespace(page_size=200)

    def page(self) -> None:
        self.stats.pages += 1
        self.stats.records += 200


def test_the_terminal_line_is_redrawn_at_most_ten_times_a_second_and_cleared() -> None:
    now = [0.0]
    out = io.StringIO()
    line = progress.TerminalProgress(out, clock=lambda: now[0])
    listing = FakeListing()
    listing.page()
    line(listing)  # drawn: the first
    now[0] = 0.05
    listing.page()
    line(listing)  # too soon: skipped
    now[0] = 0.2
    listing.page()
    line(listing)  # the last page is always drawn
    line.close()
    assert out.getvalue() == (
        "\rreading scan_status=success · page 1/3 · 200/600 records\x1b[K"
        "\rreading scan_status=success · page 3/3 · 600/600 records · 2,000/s · ETA 0:00\x1b[K"
        "\r\x1b[K"
    )


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_only_for_a_person_at_a_terminal() -> None:
    assert progress.wanted(Stream(True), {})
    assert not progress.wanted(Stream(False), {})  # a pipe, a file, a log
    assert not progress.wanted(Stream(True), {"CI": "true"})
    assert not progress.wanted(Stream(True), {"AWS_LAMBDA_FUNCTION_NAME": "checker"})
    assert not progress.wanted(Stream(True), {}, quiet=True)


# -- flags -----------------------------------------------------------------------------------------


SEVERITY_HINT = "expected one of: critical, high, info, low, medium (did you mean 'high'?)"
PLATFORMS = "dingtalk, discord, feishu, generic, googlechat, lark, slack, teams, wecom"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["run", "--fail-on", "hgih"], f"argument --fail-on: got 'hgih', {SEVERITY_HINT}"),
        (
            ["invoke", "e.json", "--format", "jsn"],
            "argument --format: got 'jsn', expected one of: human, json",
        ),
        (["preview", "--platform", "slak"], f"--platform: got 'slak', expected one of: {PLATFORMS} (did you"),
    ],
)
def test_a_bad_flag_value_names_the_flag_the_allowed_ones_and_the_closest(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from imagewatch.cli import build_parser

    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    assert said in capsys.readouterr().err


def test_an_unknown_channel_names_the_configured_ones() -> None:
    assert channel_problem("defualt", ["default", "ops"]) == (
        "--channel: got 'defualt', expected one of: default, ops (did you mean 'default'?)"
    )
    assert "none is configured (set WEBHOOK_URL or CHANNELS_FILE)" in channel_problem("x", [])


def test_verbosity_levels() -> None:
    assert [log_level(n, False) for n in (0, 1, 2, 5)] == ["WARNING", "INFO", "DEBUG", "DEBUG"]
    assert log_level(0, True) == "ERROR"


def test_the_command_line_loads_no_renderer_until_it_renders() -> None:
    """``imagewatch --help`` and parsing stay light: rich is imported only to draw a summary."""
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import imagewatch.cli as c; c.build_parser();"
        "import json; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('rich', 'imagewatch'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(ROOT / "functions" / "checker")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = json.loads(done.stdout)
    assert not [m for m in loaded if m.startswith("rich")]
    assert "imagewatch.handler" not in loaded and "imagewatch.commands.human" not in loaded
