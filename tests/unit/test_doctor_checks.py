"""``imagewatch doctor``'s verdicts and hints, as pure functions of settings and answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagewatch.alerts.channels import platform_for
from imagewatch.commands.exit_codes import ExitCode
from imagewatch.doctor_checks import (
    KNOWN_REGIONS,
    Check,
    channel_view,
    channels_check,
    channels_failed,
    credential_kind,
    enterprise_project_check,
    hss_failed,
    hss_reached,
    inspect_location,
    ledger_file_check,
    misspelled,
    policies_check,
    region_check,
    render_text,
    send_test_check,
    settings_fix,
    settings_ok,
    to_json,
    verdict,
)
from imagewatch.hss.errors import HssApiError, HssTransportError
from imagewatch.misconfiguration import platform_lookalike
from imagewatch.settings import Settings
from imagewatch.standins.chat import BEHAVIOURS

SECRETS = {
    "HSS_AK": "AKIDSECRETACCESSKEY",
    "HSS_SK": "sk-very-secret-value",
    "HSS_SECURITY_TOKEN": "sts-session-token-value",
    "HSS_AUTH_TOKEN": "iam-token-value-123456",
    "HSS_IAM_PASSWORD": "iam-password-value",
}
CREDENTIALS = {
    "aksk": {"HSS_AK": SECRETS["HSS_AK"], "HSS_SK": SECRETS["HSS_SK"]},
    "aksk-temporary": {
        "HSS_AK": SECRETS["HSS_AK"],
        "HSS_SK": SECRETS["HSS_SK"],
        "HSS_SECURITY_TOKEN": SECRETS["HSS_SECURITY_TOKEN"],
    },
    "token": {"HSS_AUTH_TOKEN": SECRETS["HSS_AUTH_TOKEN"]},
    "iam-password": {
        "HSS_IAM_USER": "ops-robot",
        "HSS_IAM_PASSWORD": SECRETS["HSS_IAM_PASSWORD"],
        "HSS_IAM_DOMAIN": "acme",
    },
}


def settings(mode: str = "aksk", **extra: str) -> Settings:
    env = {"HSS_PROJECT_ID": "p1", "HSS_REGION": "cn-north-4", **CREDENTIALS[mode], **extra}
    return Settings.from_env(env)


def shown(check: Check) -> str:
    return json.dumps(check.to_dict())


def assert_no_secret(text: str) -> None:
    leaked = [name for name, value in SECRETS.items() if value in text]
    assert not leaked, text


# -- settings -----------------------------------------------------------------------------------------


def test_known_regions_are_the_sdks() -> None:
    """The hint list is the official SDK's region table (a dev dependency), so it cannot drift."""
    from huaweicloudsdkhss.v5.region.hss_region import HssRegion

    assert set(HssRegion.static_fields) == KNOWN_REGIONS


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        ("aksk", "AK/SK"),
        ("aksk-temporary", "temporary AK/SK"),
        ("token", "X-Auth-Token"),
        ("iam-password", "IAM password"),
    ],
)
def test_settings_ok_names_the_credential_kind_never_the_credential(mode: str, kind: str) -> None:
    chosen = settings(mode)
    check = settings_ok(chosen)
    assert credential_kind(chosen) == kind and check.status == "ok"
    assert f"credentials: {kind} (" in check.summary and "target cn-north-4/p1/0" in check.summary
    assert_no_secret(shown(check))


@pytest.mark.parametrize("typed", ["cn_north_4", "CN-NORTH-4", "cn-north4"])
def test_a_malformed_region_gets_the_closest_known_one(typed: str) -> None:
    assert settings_fix("HSS_REGION", {"HSS_REGION": typed}).endswith("(did you mean 'cn-north-4'?)")


def test_a_missing_setting_next_to_a_misspelled_one_names_the_typo() -> None:
    env = {"HSS_PROJECTID": "p1", "HSS_REGION": "cn-north-4"}
    assert (
        settings_fix("HSS_PROJECT_ID", env)
        == "HSS_PROJECTID is set, but the setting is HSS_PROJECT_ID: rename it"
    )
    assert settings_fix("HSS_PROJECT_ID", {}).startswith("set HSS_PROJECT_ID to the project id")


def test_misspelled_ignores_real_settings_and_far_names() -> None:
    assert misspelled(["WEBHOOK_ULR", "HOME"], "WEBHOOK_URL") == "WEBHOOK_ULR"
    assert misspelled(["WEBHOOK_URL", "WEBHOOK_SECRET", "PATH"], "WEBHOOK_URL") is None
    assert misspelled(["SLACK_HOOK"], "WEBHOOK_URL") is None


def test_credential_problems_point_at_every_way_to_authenticate() -> None:
    fix = settings_fix("HSS_SK", {"HSS_AK": "x"})
    assert "HSS_AK + HSS_SK" in fix and "HSS_AUTH_TOKEN" in fix and "HSS_IAM_USER" in fix


def test_an_unknown_region_is_a_warning_with_a_hint_a_known_one_nothing() -> None:
    assert region_check(settings()) is None
    check = region_check(settings(HSS_REGION="cn-nort-4"))
    assert check is not None and check.status == "warn"
    assert "(did you mean 'cn-north-4'?)" in (check.fix or "")


# -- HSS ----------------------------------------------------------------------------------------------


def test_reached_says_host_kind_and_total() -> None:
    check = hss_reached(settings("token"), 412, "req-1")
    assert check.status == "ok"
    assert check.summary == (
        "reached hss.cn-north-4.myhuaweicloud.com with X-Auth-Token: ListImageLocal total_num 412 "
        "in the default enterprise project"
    )
    assert hss_reached(settings(), 0).status == "warn"


@pytest.mark.parametrize(
    ("mode", "needle"),
    [
        ("aksk", "HSS_AK and HSS_SK"),
        ("aksk-temporary", "HSS_SECURITY_TOKEN"),
        ("token", "HSS_AUTH_TOKEN"),
        ("iam-password", "HSS_IAM_PASSWORD"),
    ],
)
def test_a_401_fix_names_the_credentials_in_use(mode: str, needle: str) -> None:
    error = HssApiError(401, "APIG.0301", "Incorrect IAM authentication information", "r1")
    check = hss_failed(settings(mode), error)
    assert check.status == "fail" and check.code == ExitCode.HSS
    assert needle in (check.fix or "") and credential_kind(settings(mode)) in check.summary
    assert "APIG.0301" in check.summary
    assert_no_secret(shown(check))


def test_other_hss_failures_get_their_own_fix() -> None:
    chosen = settings()
    forbidden = hss_failed(chosen, HssApiError(403, "HSS.0010", "access denied", None))
    assert "HSS_PROJECT_ID" in (forbidden.fix or "") and "p1" in (forbidden.fix or "")
    unreachable = hss_failed(chosen, HssTransportError("connection refused"))
    assert "reachable" in (unreachable.fix or "") and unreachable.code == ExitCode.HSS
    odd_region = hss_failed(settings(HSS_REGION="cn-nort-4"), HssTransportError("name not resolved"))
    assert "(did you mean 'cn-north-4'?)" in (odd_region.fix or "")


def test_enterprise_project_unset_warns_with_both_figures() -> None:
    chosen = settings()
    hidden = enterprise_project_check(chosen, 34, 50)
    assert hidden.status == "warn" and "34 records there, 50 in all granted" in hidden.summary
    assert "HSS_ENTERPRISE_PROJECT_ID=all_granted_eps" in (hidden.fix or "")
    assert enterprise_project_check(chosen, 50, 50).status == "ok"
    unknown = enterprise_project_check(chosen, 50, None, "all_granted_eps was refused: HTTP 403")
    assert unknown.status == "warn" and "HTTP 403" in unknown.summary
    chosen_eps = settings(HSS_ENTERPRISE_PROJECT_ID="all_granted_eps")
    assert enterprise_project_check(chosen_eps, 50, None).status == "ok"


# -- channels -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", sorted(set(BEHAVIOURS) - {"generic"}))
def test_a_loopback_stand_in_of_each_platform_looks_like_it(platform: str) -> None:
    """The stand-ins serve each platform's path on 127.0.0.1: not recognised, but recognisable."""
    url = f"http://127.0.0.1:8080{BEHAVIOURS[platform]().path('tok')}"
    like = platform_lookalike(url)  # the run's rule, which the doctor shares
    assert like is not None  # and names the same module (lark is served by feishu's)
    assert platform_for(url, like[0]) is platform_for(url, platform)
    assert platform_for(url).NAME == "generic"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook/abc", "https://alerts.example.com/imagewatch", "https://example.org/"]
)
def test_a_plain_receiver_looks_like_nothing(url: str) -> None:
    assert platform_lookalike(url) is None


def test_a_lookalike_is_warned_only_when_generic_was_not_chosen() -> None:
    url = "http://127.0.0.1:9000/services/T0/B0/secret-token-part"
    assert channel_view("default", "generic", url, explicit_platform=False).lookalike == "slack"
    assert channel_view("default", "generic", url, explicit_platform=True).lookalike is None
    assert channel_view("default", "slack", url, explicit_platform=True).lookalike is None
    check = channels_check([channel_view("default", "generic", url, explicit_platform=False)])
    assert check.status == "warn" and "WEBHOOK_PLATFORM=slack" in (check.fix or "")
    assert "default: generic (127.0.0.1:9000)" in check.details
    assert "secret-token-part" not in shown(check) and "/services/" not in shown(check)


def test_no_channel_is_a_warning_naming_a_misspelled_variable() -> None:
    check = channels_check([], ["WEBHOOK_ULR", "PATH"])
    assert check.status == "warn" and check.summary.startswith("no channel configured")
    assert check.details == ("WEBHOOK_ULR is set, but it is not a setting: did you mean WEBHOOK_URL?",)
    slack = channel_view("ops", "slack", "https://hooks.slack.com/services/x", False)
    assert channels_check([slack]).status == "ok"


def test_channel_problems_fail_as_configuration() -> None:
    platform = channels_failed((), "slak")
    assert platform.code == ExitCode.CONFIG and "(did you mean 'slack'?)" in (platform.fix or "")
    assert "one of: " in (platform.fix or "")
    many = channels_failed([f"/channels/{i}/url: bad" for i in range(12)])
    assert many.status == "fail" and len(many.details) == 9 and many.details[-1] == "…and 4 more"


def test_send_outcomes() -> None:
    def outcome(ok: bool) -> dict:
        return {"channel": "ops", "platform": "slack", "ok": ok, "attempts": 1, "detail": "HTTP 400"}

    sent = send_test_check({"errors": [], "notifications": {"channels": [outcome(True)]}})
    assert sent.status == "ok" and sent.summary == "sent to 1 channel"
    failed = send_test_check({"errors": [], "notifications": {"channels": [outcome(True), outcome(False)]}})
    assert failed.code == ExitCode.DELIVERY
    assert "ops (slack): FAILED after 1 attempt: HTTP 400" in failed.details
    nothing = send_test_check({"errors": ["no channel configured"], "notifications": {"channels": []}})
    assert nothing.code == ExitCode.CONFIG


# -- policies, locations, verdict, output -------------------------------------------------------------


def test_policy_errors_fail_and_point_at_validate() -> None:
    check = policies_check("policies", 7, ["policies/x.json /severity: bad"], [])
    assert check.code == ExitCode.CONFIG and check.details == ("policies/x.json /severity: bad",)
    assert "imagewatch validate policies" in (check.fix or "")
    assert policies_check("policies", 8, [], ["policies/y.json /exemptions/0: expires soon"]).status == "warn"
    assert policies_check("policies", 1, [], []).summary == "1 valid policy in policies"


def test_locations_are_looked_at_never_written(tmp_path: Path) -> None:
    existing = tmp_path / "state.sqlite3"
    existing.write_bytes(b"")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert inspect_location(existing, "file") == ("exists, writable", None)
    deeper = tmp_path / "new" / "deeper" / "state.sqlite3"
    assert inspect_location(deeper, "file") == ("will be created", None)
    assert not (tmp_path / "new").exists()
    assert inspect_location(blocker / "state.sqlite3", "file")[1] == (
        f"{blocker} is a file, so {blocker / 'state.sqlite3'} cannot be created below it"
    )
    assert inspect_location(blocker, "folder")[1] == f"{blocker} is a file, not a folder"
    assert inspect_location(tmp_path, "file")[1] == f"{tmp_path} is a folder, not a file"
    failed = ledger_file_check(blocker / "x", "missing", "cannot")
    assert failed.code == ExitCode.STORE and "STATE_PATH" in (failed.fix or "")


def test_the_verdict_follows_the_exit_code_precedence() -> None:
    config = Check("settings", "fail", "x", code=ExitCode.CONFIG)
    hss = Check("HSS", "fail", "x", code=ExitCode.HSS)
    store = Check("ledger", "fail", "x", code=ExitCode.STORE)
    delivery = Check("test notification", "fail", "x", code=ExitCode.DELIVERY)
    warned = Check("channels", "warn", "x", fix="y")
    assert verdict([warned]) == ExitCode.OK
    assert verdict([delivery, store, hss, config]) == ExitCode.CONFIG
    assert verdict([delivery, store, hss]) == ExitCode.HSS
    assert verdict([delivery, store]) == ExitCode.STORE
    assert verdict([delivery, warned]) == ExitCode.DELIVERY


def test_text_and_json_output() -> None:
    checks = [
        Check("settings", "ok", "target t", ("detail line",)),
        Check("channels", "warn", "none", (), "set WEBHOOK_URL"),
        Check("HSS", "fail", "refused", (), "check HSS_AK", ExitCode.HSS),
        Check("policies", "skip", "not checked"),
    ]
    assert list(render_text(checks)) == [
        "✓ settings: target t",
        "    detail line",
        "! channels: none",
        "    fix: set WEBHOOK_URL",
        "✗ HSS: refused",
        "    fix: check HSS_AK",
        "- policies: not checked",
        "1 problem, 1 warning (exit 3)",
    ]
    assert [line.split(":")[0] for line in render_text(checks, unicode=False)][:5:2] == [
        "ok settings",
        "warn channels",
        "FAIL HSS",
    ]
    document = to_json(checks)
    assert [document[key] for key in ("ok", "exit_code", "problems", "warnings")] == [False, 3, 1, 1]
    assert [c["exit_code"] for c in document["checks"]] == [0, 0, 3, 0]
