"""What ``imagewatch doctor`` concludes, as pure functions of the settings and the answers it got.

Each check is a ``Check``: a status (ok, warn, fail, skip), one line saying what was found, more lines
when there is a list, the fix for anything not ok, and the exit code a failure stands for. The command
(``imagewatch.commands.doctor``) does the I/O — reads the settings, asks HSS for one page, loads the
channels and policies, looks at the ledger and report locations, sends the test message — and hands
what it got to these functions, so every verdict and every hint is unit tested without a network.
Nothing here shows a credential or a webhook URL: a host name at most.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from msgspec import Struct

from imagewatch.commands.exit_codes import ExitCode, worst
from imagewatch.settings import Settings, host_key
from imagewatch.suggest import allowed, did_you_mean

Status = Literal["ok", "warn", "fail", "skip"]

# Regions HSS is offered in (huaweicloudsdkhss 3.1.219, ``HssRegion.static_fields``; a unit test keeps
# the two equal). Only for hints: a region missing here is warned about, never refused.
KNOWN_REGIONS = frozenset(
    {
        "ae-ad-1", "af-north-1", "af-south-1", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
        "ap-southeast-4", "ap-southeast-5", "cn-east-2", "cn-east-3", "cn-east-4", "cn-east-5",
        "cn-north-1", "cn-north-11", "cn-north-12", "cn-north-2", "cn-north-4", "cn-north-9",
        "cn-south-1", "cn-south-2", "cn-south-4", "cn-southwest-2", "cn-southwest-3", "eu-west-101",
        "la-north-2", "la-south-2", "me-east-1", "my-kualalumpur-1", "na-mexico-1", "ru-moscow-1",
        "sa-brazil-1", "tr-west-1",
    }
)  # fmt: skip


CREDENTIAL_KINDS = {
    "aksk": ("AK/SK", "HSS_AK + HSS_SK"),
    "aksk-temporary": ("temporary AK/SK", "HSS_AK + HSS_SK + HSS_SECURITY_TOKEN"),
    "token": ("X-Auth-Token", "HSS_AUTH_TOKEN"),
    "iam-password": ("IAM password", "HSS_IAM_USER + HSS_IAM_PASSWORD + HSS_IAM_DOMAIN"),
}
ALL_ENTERPRISE_PROJECTS = "all_granted_eps"
DEFAULT_ENTERPRISE_PROJECT = "0"
MAX_LISTED_PROBLEMS = 8


class Check(Struct, frozen=True):
    """One verdict: what was checked, how it went, what was found, and how to fix it."""

    name: str
    status: Status
    summary: str
    details: tuple[str, ...] = ()
    fix: str | None = None
    code: ExitCode = ExitCode.OK  # the exit-code contract's code, when the check failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "summary": self.summary,
            "details": list(self.details),
            "fix": self.fix,
            "exit_code": int(self.code) if self.status == "fail" else 0,
        }


def fail(name: str, summary: str, fix: str, code: ExitCode, details: Iterable[str] = ()) -> Check:
    return Check(name, "fail", summary, tuple(details), fix, code)


def verdict(checks: Iterable[Check]) -> ExitCode:
    """The exit code: the contract's most telling code among the failed checks, else 0."""
    return worst({check.code for check in checks if check.status == "fail"})


# -- settings -----------------------------------------------------------------------------------------


def credential_kind(settings: Settings) -> str:
    """Which way of authenticating the run uses, as a person names it (never a credential)."""
    return CREDENTIAL_KINDS[settings.auth_mode][0]


def misspelled(names: Iterable[str], wanted: str) -> str | None:
    """A set variable that is not a setting but is spelled like ``wanted``, or None: the run's own rule
    (``settings.near_misses``), so the doctor and a run's warnings never disagree."""
    from imagewatch.settings import CONTRACT, near_misses

    return next((name for name, _ in near_misses(names, CONTRACT, [wanted])), None)


def settings_ok(settings: Settings) -> Check:
    details = [f"HSS endpoint {host_key(settings.hss_endpoint)}, project {settings.hss_project_id}"]
    if settings.hss_region:
        details.append(f"region {settings.hss_region}")
    if settings.auth_mode == "iam-password":
        details.append(
            f"IAM user {settings.hss_iam_user!r} of account {settings.hss_iam_domain!r}, tokens from "
            f"{host_key(settings.hss_iam_endpoint or settings.hss_endpoint)}"
        )
    return Check(
        "settings",
        "ok",
        f"target {settings.target}; credentials: {credential_kind(settings)} "
        f"({CREDENTIAL_KINDS[settings.auth_mode][1]})",
        tuple(details),
    )


def settings_failed(variable: str, message: str, env: Mapping[str, str]) -> Check:
    """``Settings.from_env`` refused ``variable``; ``message`` is its error (which hides secrets)."""
    return fail("settings", message, settings_fix(variable, env), ExitCode.CONFIG)


def settings_fix(variable: str, env: Mapping[str, str]) -> str:
    """How to fix a refused setting: what to set it to, and a did-you-mean for a value or a name."""
    value = (env.get(variable) or "").strip()
    typo = misspelled(env, variable) if not value else None
    if typo:
        return f"{typo} is set, but the setting is {variable}: rename it"
    if variable == "HSS_REGION":
        return f"set HSS_REGION to a region id such as cn-north-4{did_you_mean(value, KNOWN_REGIONS)}"
    if variable == "HSS_PROJECT_ID":
        return "set HSS_PROJECT_ID to the project id of the region (console: My Credentials → Projects)"
    if variable in ("HSS_ENDPOINT", "HSS_IAM_ENDPOINT"):
        return (
            f"set HSS_REGION (the endpoints follow from it) or {variable} to an https:// URL "
            "(http:// only for 127.0.0.1, such as the emulator's)"
        )
    if variable.startswith(("HSS_AK", "HSS_SK", "HSS_AUTH", "HSS_IAM")):
        return (
            "set HSS_AK + HSS_SK (an access key of the account), or HSS_AUTH_TOKEN, "
            "or HSS_IAM_USER + HSS_IAM_PASSWORD + HSS_IAM_DOMAIN"
        )
    if variable == "WEBHOOK_URL":
        return (
            "set WEBHOOK_URL to the https:// webhook your chat platform gave you "
            "(http:// only to 127.0.0.1 when running locally)"
        )
    if variable == "SETTINGS_SECRET":
        return "check SETTINGS_SECRET names a Secrets Manager secret holding a JSON object of settings"
    return f"correct {variable} as the message says"


def region_check(settings: Settings) -> Check | None:
    """A well-formed region this version does not know HSS in: a typo, or a region newer than it."""
    region = settings.hss_region
    if not region or region in KNOWN_REGIONS:
        return None
    return Check(
        "region",
        "warn",
        f"HSS_REGION {region!r} is not a region this version knows HSS in",
        (),
        f"check the region id{did_you_mean(region, KNOWN_REGIONS)}; a newer region works as it is if "
        f"{host_key(settings.hss_endpoint)} answers",
    )


# -- HSS ----------------------------------------------------------------------------------------------


def enterprise_label(settings: Settings) -> str:
    eps = settings.hss_enterprise_project_id
    if eps is None:
        return "the default enterprise project"
    if eps == ALL_ENTERPRISE_PROJECTS:
        return "all granted enterprise projects"
    return f"enterprise project {eps}"


def hss_reached(settings: Settings, total_num: int, request_id: str | None = None) -> Check:
    """HSS answered the one page asked for: which host, which credential kind, what it holds."""
    host = host_key(settings.hss_endpoint)
    summary = (
        f"reached {host} with {credential_kind(settings)}: ListImageLocal total_num {total_num} "
        f"in {enterprise_label(settings)}"
    )
    details = (f"X-Request-Id {request_id}",) if request_id else ()
    if total_num == 0:
        return Check(
            "HSS",
            "warn",
            summary,
            details,
            "HSS lists no images here: check HSS_PROJECT_ID and HSS_ENTERPRISE_PROJECT_ID, and that the "
            "hosts run the HSS agent with container protection",
        )
    return Check("HSS", "ok", summary, details)


def hss_failed(settings: Settings, error: Exception) -> Check:
    """HSS (or IAM) could not be reached or refused us: say where, with which kind, and what to fix."""
    from imagewatch.hss.errors import HssApiError, HssTransportError

    host = host_key(settings.hss_endpoint)
    kind = credential_kind(settings)
    if settings.auth_mode == "iam-password":  # the error may be IAM's answer to the token request
        kind += f" (tokens from {host_key(settings.hss_iam_endpoint or settings.hss_endpoint)})"
    summary = f"could not list images at {host} with {kind}: {error}"
    if isinstance(error, HssApiError):
        fix = _api_fix(settings, error.status, error.error_code)
    elif isinstance(error, HssTransportError | OSError):
        fix = f"check that {host} is reachable from here (DNS, proxy, firewall)"
        region = settings.hss_region
        if region and region not in KNOWN_REGIONS:
            fix += f", and the region id {region!r}{did_you_mean(region, KNOWN_REGIONS)}"
    else:
        fix = "see the message; `imagewatch run -v` shows the same read with its logs"
    return fail("HSS", summary, fix, ExitCode.HSS)


def _api_fix(settings: Settings, status: int, code: str | None) -> str:
    mode = settings.auth_mode
    if status == 401:
        if mode == "aksk":
            return (
                "check HSS_AK and HSS_SK (an enabled access key of this account) and this machine's "
                "clock (signatures more than 15 minutes off are refused); repeated failures lock the AK "
                "for 5 minutes"
            )
        if mode == "aksk-temporary":
            return (
                "temporary credentials expire: get a fresh HSS_AK, HSS_SK and HSS_SECURITY_TOKEN together, "
                "and check this machine's clock"
            )
        if mode == "token":
            return "HSS_AUTH_TOKEN is not valid or has expired (IAM tokens last 24 h): get a new one"
        return (
            "check HSS_IAM_USER, HSS_IAM_PASSWORD and HSS_IAM_DOMAIN (the account name), that the user may "
            "use programmatic access, and HSS_IAM_ENDPOINT"
        )
    if status == 403:
        return (
            f"the credentials were accepted but may not list images of project {settings.hss_project_id}: "
            "check HSS_PROJECT_ID is the project of this region, and grant the user HSS read access "
            "(e.g. the HSS ReadOnlyAccess policy) in it"
        )
    if status == 404:
        return "check HSS_PROJECT_ID and HSS_REGION/HSS_ENDPOINT: HSS does not know this path"
    if status == 429:
        return "HSS is throttling this account: try again in a minute (runs overlapping? see HSS_MAX_RPS)"
    if status >= 500:
        return "HSS or its gateway failed: try again; if it persists, check the Huawei Cloud status page"
    return f"HSS refused the request ({code or status}): see the message"


def enterprise_project_check(
    settings: Settings, default_total: int, all_total: int | None, all_error: str | None = None
) -> Check:
    """With ``HSS_ENTERPRISE_PROJECT_ID`` unset HSS lists only the default enterprise project; the
    doctor asks for ``all_granted_eps`` too (``all_total``) to tell whether others hold images."""
    name = "enterprise project"
    eps = settings.hss_enterprise_project_id
    if eps is not None:
        return Check(
            name, "ok", f"HSS_ENTERPRISE_PROJECT_ID={eps}: the run reads {enterprise_label(settings)}"
        )
    fix = (
        f"export HSS_ENTERPRISE_PROJECT_ID={ALL_ENTERPRISE_PROJECTS} to read every enterprise project the "
        "credentials are granted (or one project's id to read only that one)"
    )
    unset = "HSS_ENTERPRISE_PROJECT_ID is unset, so HSS lists only the default enterprise project"
    if all_total is None:
        why = f" ({all_error})" if all_error else ""
        return Check(name, "warn", f"{unset}; could not tell whether others hold images{why}", (), fix)
    if all_total > default_total:
        return Check(
            name,
            "warn",
            f"{unset}: {default_total} records there, {all_total} in all granted enterprise projects",
            (),
            fix,
        )
    return Check(name, "ok", f"{unset}, which holds every record the credentials may list ({default_total})")


# -- channels -----------------------------------------------------------------------------------------


class ChannelView(Struct, frozen=True):
    """A configured channel as the doctor may show it: no URL, only its host."""

    name: str
    platform: str
    host: str
    lookalike: str | None = None  # the platform it resembles, when it was not recognised as one


def channel_view(name: str, platform: str, url: str, explicit_platform: bool) -> ChannelView:
    """``lookalike`` only for a generic channel whose platform was recognised, not chosen."""
    from imagewatch.misconfiguration import platform_lookalike  # the run's rule: one for both

    like = platform_lookalike(url) if platform == "generic" and not explicit_platform else None
    return ChannelView(name, platform, host_key(url), like[0] if like else None)


def channels_check(views: Sequence[ChannelView], env_names: Iterable[str] = ()) -> Check:
    name = "channels"
    if not views:
        names = list(env_names)
        typos = [(misspelled(names, wanted), wanted) for wanted in ("WEBHOOK_URL", "CHANNELS_FILE")]
        details = tuple(
            f"{typo} is set, but it is not a setting: did you mean {wanted}?"
            for typo, wanted in typos
            if typo
        )
        return Check(
            name,
            "warn",
            "no channel configured: runs find violations and tell no one",
            details,
            "set WEBHOOK_URL (one chat webhook) or CHANNELS_FILE (several, with routing); "
            "then `imagewatch doctor --send-test` checks delivery",
        )
    details = [f"{view.name}: {view.platform} ({view.host})" for view in views]
    odd = [view for view in views if view.lookalike]
    for view in odd:
        details.append(
            f"{view.name}: the URL looks like a {view.lookalike} webhook but is not {view.lookalike}'s own "
            "host and path, so it is posted as generic JSON"
        )
    count = f"{len(views)} channel{'s' if len(views) != 1 else ''}"
    if not odd:
        return Check(name, "ok", count, tuple(details))
    platform = odd[0].lookalike
    return Check(
        name,
        "warn",
        f"{count}; {len(odd)} look{'s' if len(odd) == 1 else ''} like a platform but will get generic JSON",
        tuple(details),
        f"if it is {platform} (a proxy or a stand-in), set WEBHOOK_PLATFORM={platform} (channels file: "
        f'"platform": "{platform}"); if it is a generic JSON receiver, set the platform to generic',
    )


def channels_failed(problems: Sequence[str], platform_value: str | None = None) -> Check:
    """The channels could not be built: every problem of the channels file, or a bad platform."""
    if platform_value is not None:
        from imagewatch.alerts.channels import PLATFORMS

        return fail(
            "channels",
            f"WEBHOOK_PLATFORM {platform_value!r} is not a platform",
            f"set WEBHOOK_PLATFORM to {allowed(PLATFORMS)}{did_you_mean(platform_value, PLATFORMS)}, or "
            "unset it to recognise the platform from WEBHOOK_URL",
            ExitCode.CONFIG,
        )
    shown = list(problems[:MAX_LISTED_PROBLEMS])
    if len(problems) > MAX_LISTED_PROBLEMS:
        shown.append(f"…and {len(problems) - MAX_LISTED_PROBLEMS} more")
    return fail(
        "channels",
        f"the channels cannot be used: {len(problems)} problem{'s' if len(problems) != 1 else ''}",
        "fix each problem; `imagewatch validate CHANNELS_FILE` checks the file without its secrets",
        ExitCode.CONFIG,
        shown,
    )


def send_test_check(summary: Mapping[str, Any]) -> Check:
    """The outcome of ``run.test_notification``: one message to every channel."""
    name = "test notification"
    if summary.get("errors"):
        return fail(name, "; ".join(summary["errors"]), "configure a channel first", ExitCode.CONFIG)
    outcomes = summary.get("notifications", {}).get("channels", [])
    details = tuple(
        f"{o['channel']} ({o['platform']}): {'delivered' if o['ok'] else 'FAILED'} after {o['attempts']} "
        f"attempt{'s' if o['attempts'] != 1 else ''}: {o['detail']}"
        for o in outcomes
    )
    failed = [o for o in outcomes if not o["ok"]]
    if failed:
        return fail(
            name,
            f"{len(failed)} of {len(outcomes)} channel{'s' if len(outcomes) != 1 else ''} did not confirm",
            "check each failed channel's webhook (deleted? wrong secret or keywords?) with its platform",
            ExitCode.DELIVERY,
            details,
        )
    return Check(name, "ok", f"sent to {len(outcomes)} channel{'s' if len(outcomes) != 1 else ''}", details)


# -- policies, ledger, reports ------------------------------------------------------------------------


def policies_check(where: str, policies: int, errors: Sequence[object], warnings: Sequence[object]) -> Check:
    """The pack at ``where`` loaded with ``policies`` valid policies and these errors and warnings."""
    name = "policies"
    found = f"{policies} valid polic{'ies' if policies != 1 else 'y'} in {where}"
    if errors:
        shown = [str(error) for error in errors[:MAX_LISTED_PROBLEMS]]
        if len(errors) > MAX_LISTED_PROBLEMS:
            shown.append(f"…and {len(errors) - MAX_LISTED_PROBLEMS} more")
        return fail(
            name,
            f"{found}, {len(errors)} error{'s' if len(errors) != 1 else ''} (runs skip invalid files)",
            f"run `imagewatch validate {where}`: every error with its file and JSON pointer",
            ExitCode.CONFIG,
            shown,
        )
    if warnings:
        return Check(
            name,
            "warn",
            f"{found}, {len(warnings)} warning{'s' if len(warnings) != 1 else ''}",
            tuple(str(w) for w in warnings[:MAX_LISTED_PROBLEMS]),
            f"see `imagewatch validate {where}`",
        )
    return Check(name, "ok", found)


def inspect_location(path: Path, kind: Literal["file", "folder"]) -> tuple[str, str | None]:
    """(what is there, why it cannot be used or None) for a file or folder the run will write. Looks,
    never writes: a missing one must have an existing, writable folder above it to be created in."""
    if path.exists():
        if kind == "file" and path.is_dir():
            return "a folder", f"{path} is a folder, not a file"
        if kind == "folder" and not path.is_dir():
            return "a file", f"{path} is a file, not a folder"
        folder = path.parent if kind == "file" else path
        if not os.access(path, os.W_OK) or not os.access(folder, os.W_OK | os.X_OK):
            return "exists", f"{path} is not writable by this user"
        return "exists, writable", None
    above = path.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        return "missing", f"{above} is a file, so {path} cannot be created below it"
    if not os.access(above, os.W_OK | os.X_OK):
        return "missing", f"{path} cannot be created: {above} is not writable by this user"
    return "will be created", None


def ledger_file_check(path: Path, state: str, problem: str | None) -> Check:
    if problem:
        return fail(
            "ledger",
            f"SQLite file {path}: {problem}",
            "set STATE_PATH to a file in a folder this user can write",
            ExitCode.STORE,
        )
    return Check("ledger", "ok", f"SQLite file {path} ({state})")


def ledger_table_check(table: str, error: str | None) -> Check:
    if error:
        return fail(
            "ledger",
            f"DynamoDB table {table}: {error}",
            "check STATE_TABLE, the AWS credentials and region, and dynamodb:Query on the table",
            ExitCode.STORE,
        )
    return Check("ledger", "ok", f"DynamoDB table {table} answered")


def reports_folder_check(folder: Path, state: str, problem: str | None) -> Check:
    if problem:
        return fail(
            "reports",
            f"report folder {folder}: {problem}",
            "set REPORT_DIR to a folder this user can write (or REPORT_BUCKET for S3)",
            ExitCode.STORE,
        )
    return Check("reports", "ok", f"report folder {folder} ({state})")


def reports_bucket_check(bucket: str, prefix: str) -> Check:
    """A bucket is only named: the function's role writes it, the doctor's user may not be able to."""
    return Check("reports", "ok", f"S3 bucket {bucket}, prefix {prefix} (not written by the doctor)")


def skipped(name: str, why: str) -> Check:
    return Check(name, "skip", why)


# -- output -------------------------------------------------------------------------------------------

MARKS = {"ok": "✓", "warn": "!", "fail": "✗", "skip": "-"}
ASCII_MARKS = {"ok": "ok", "warn": "warn", "fail": "FAIL", "skip": "skip"}


def render_text(checks: Sequence[Check], *, unicode: bool = True) -> Iterator[str]:
    """A line per check, its details indented, its fix after; then the verdict and the exit code."""
    from imagewatch.terminal import one_line  # an HSS error's newline must not forge a check line

    marks = MARKS if unicode else ASCII_MARKS
    for check in checks:
        yield f"{marks[check.status]} {check.name}: {one_line(check.summary)}"
        for detail in check.details:
            yield f"    {one_line(detail)}"
        if check.fix and check.status in ("warn", "fail"):
            yield f"    fix: {one_line(check.fix)}"
    problems = sum(1 for c in checks if c.status == "fail")
    warnings = sum(1 for c in checks if c.status == "warn")
    code = verdict(checks)
    yield (
        f"{problems} problem{'s' if problems != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"
        f" (exit {int(code)})"
    )


def to_json(checks: Sequence[Check]) -> dict[str, Any]:
    code = verdict(checks)
    return {
        "ok": code == ExitCode.OK,
        "exit_code": int(code),
        "problems": sum(1 for c in checks if c.status == "fail"),
        "warnings": sum(1 for c in checks if c.status == "warn"),
        "checks": [check.to_dict() for check in checks],
    }
