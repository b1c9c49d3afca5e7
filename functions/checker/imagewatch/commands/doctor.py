"""``imagewatch doctor``: is this setup ready to run? Every problem at once, each with its fix.

It checks what a run would use, with the code a run uses: the settings (``Settings.from_env``, after
the settings secret), one page of ListImageLocal through the real client (which host, which credential
kind, what ``total_num`` HSS reports; with the enterprise project unset, one page of
``all_granted_eps`` too, to tell whether the default project hides others), the channels
(``channels_for``: name, platform, host — never a URL), the policy pack, and the ledger and report
locations (looked at, not written), and with ``SECURITY_HUB=on`` whether Security Hub is enabled where
findings would go (``DescribeHub``). ``--send-test`` sends the run's test notification. The verdicts
are pure functions in ``imagewatch.doctor_checks``; this module only gathers what they judge.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from imagewatch.commands.choices import choice

if TYPE_CHECKING:
    from imagewatch.alerts.delivery import Channel
    from imagewatch.doctor_checks import Check
    from imagewatch.hss.client import HssClient
    from imagewatch.settings import Settings

PAGE_LIMIT = 10  # ListImageLocal's smallest page: the doctor reads one
EXIT_CODES = """exit codes (the run's contract, for what the doctor checks):
  0  ready (warnings aside)
  2  configuration error (settings, channels, policies)
  3  HSS cannot be reached or refused the credentials
  4  --send-test: a channel did not confirm the test message; or Security Hub is not enabled
  5  the ledger or report location cannot be used
  when several apply: 2, then 3, then 5, then 4"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    doctor = sub.add_parser(
        "doctor",
        help="check settings, HSS access, channels, policies and storage; every problem with its fix",
        description="Is this setup ready to run? Every problem at once, each with its fix.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    doctor.add_argument(
        "--send-test", action="store_true", help="also send the test notification to every channel"
    )
    doctor.add_argument(
        "--format", type=choice(("human", "json")), default="human", help="human (default) or json"
    )
    doctor.set_defaults(handler=doctor_command)


def doctor_command(args: argparse.Namespace) -> int:
    from imagewatch.commands.output import print_json
    from imagewatch.doctor_checks import render_text, to_json, verdict

    checks = diagnose(dict(os.environ), send_test=args.send_test)
    if args.format == "json":
        print_json(to_json(checks))
    else:
        for line in render_text(checks, unicode=_can_print("✓✗")):
            print(line)
    return int(verdict(checks))


def diagnose(env: dict[str, str], *, send_test: bool = False) -> list[Check]:
    """Every check, in the order a run meets them; one failing never stops the others."""
    from imagewatch.doctor_checks import skipped
    from imagewatch.hss.factory import build_client
    from imagewatch.retry import RetryPolicy

    checks: list[Check] = []
    settings, env = _settings(env, checks)
    # one retry, soon: a doctor answers in seconds, and 4xx answers are never retried anyway
    retry = RetryPolicy(max_attempts=2, base_s=0.2, cap_s=1.0, throttle_floor_s=1.0, max_retry_after_s=5.0)
    client = build_client(settings, retry=retry) if settings else None
    try:
        if settings and client:
            checks += _hss(settings, client)
        else:
            checks.append(skipped("HSS", "not tried: the settings are incomplete"))
        channels = _channels(settings, env, checks)
        checks.append(_policies(settings, env))
        checks.append(_ledger(settings, env))
        checks.append(_reports(settings, env))
        if settings and settings.security_hub:
            checks.append(_security_hub())
        if send_test:
            checks.append(_send_test(settings, client, channels))
    finally:
        if client is not None:
            client.close()
    return checks


def _env(env: Mapping[str, str], name: str) -> str | None:
    """A setting as ``Settings.from_env`` reads it: stripped, empty is unset."""
    value = (env.get(name) or "").strip()
    return value or None


def _default(name: str) -> object:
    """A ``Settings`` field's default, for the checks that still run when the settings are refused."""
    from msgspec import structs

    from imagewatch.settings import Settings

    return next(field.default for field in structs.fields(Settings) if field.name == name)


def _settings(env: dict[str, str], checks: list[Check]) -> tuple[Settings | None, dict[str, str]]:
    from imagewatch.doctor_checks import region_check, settings_failed, settings_ok
    from imagewatch.secret_settings import overlay
    from imagewatch.settings import Settings, SettingsError

    try:
        env = overlay(env)
        settings = Settings.from_env(env)
    except SettingsError as exc:
        checks.append(settings_failed(exc.variable, str(exc), env))
        return None, env
    except Exception as exc:  # the settings secret's AWS client: no region, no credentials, …
        checks.append(
            settings_failed("SETTINGS_SECRET", f"SETTINGS_SECRET: {type(exc).__name__}: {exc}", env)
        )
        return None, env
    checks.append(settings_ok(settings))
    region = region_check(settings)
    if region is not None:
        checks.append(region)
    return settings, env


def _hss(settings: Settings, client: HssClient) -> list[Check]:
    """One page as the run would ask for it; with no enterprise project set, one of all of them too."""
    from imagewatch.doctor_checks import (
        ALL_ENTERPRISE_PROJECTS,
        enterprise_project_check,
        hss_failed,
        hss_reached,
    )
    from imagewatch.hss.errors import HssApiError, HssError
    from imagewatch.hss.query import ImageQuery

    try:
        page = client.fetch_page(
            ImageQuery(enterprise_project_id=settings.hss_enterprise_project_id), 0, PAGE_LIMIT
        )
    except HssError as exc:
        return [hss_failed(settings, exc)]
    checks = [hss_reached(settings, page.total_num, page.request_id)]
    every: int | None = None
    problem: str | None = None
    if settings.hss_enterprise_project_id is None:
        try:
            every = client.fetch_page(
                ImageQuery(enterprise_project_id=ALL_ENTERPRISE_PROJECTS), 0, PAGE_LIMIT
            ).total_num
        except HssApiError as exc:
            problem = (
                f"{ALL_ENTERPRISE_PROJECTS} was refused: HTTP {exc.status} {exc.error_code or ''}".rstrip()
            )
        except HssError as exc:
            problem = f"{ALL_ENTERPRISE_PROJECTS} could not be read: {exc}"
    checks.append(enterprise_project_check(settings, page.total_num, every, problem))
    return checks


def _channels(settings: Settings | None, env: Mapping[str, str], checks: list[Check]) -> list[Channel]:
    from imagewatch.alerts.routing import ChannelsFileError, channels_for
    from imagewatch.doctor_checks import channel_view, channels_check, channels_failed, skipped
    from imagewatch.settings import SettingsError

    if settings is None:
        checks.append(skipped("channels", "not checked: the settings are incomplete"))
        return []
    try:
        channels = channels_for(
            settings.channels_file,
            settings.webhook_url,
            settings.webhook_secret,
            settings.webhook_platform,
            env,
        )
    except ChannelsFileError as exc:
        checks.append(channels_failed(exc.problems))
        return []
    except SettingsError:
        checks.append(channels_failed((), settings.webhook_platform or ""))
        return []
    explicit = _explicit_platforms(settings, env)
    views = [channel_view(c.name, c.platform_name, c.url, c.name in explicit) for c in channels]
    checks.append(channels_check(views, env.keys()))
    return channels


def _explicit_platforms(settings: Settings, env: Mapping[str, str]) -> set[str]:
    """Names of the channels whose platform was chosen, not recognised from the URL (already read and
    validated by ``channels_for``)."""
    from imagewatch.alerts.routing import DEFAULT_CHANNEL

    if env.get("CHANNELS_JSON"):
        text = env["CHANNELS_JSON"]
    elif settings.channels_file is not None:
        text = settings.channels_file.read_text(encoding="utf-8")
    else:
        return {DEFAULT_CHANNEL} if settings.webhook_platform else set()
    return {item["name"] for item in json.loads(text)["channels"] if item.get("platform")}


def _policies(settings: Settings | None, env: Mapping[str, str]) -> Check:
    from imagewatch.commands.exit_codes import ExitCode
    from imagewatch.doctor_checks import fail, policies_check
    from imagewatch.policy import load_policies

    path = (
        settings.policy_path if settings else Path(_env(env, "POLICY_PATH") or str(_default("policy_path")))
    )
    where = str(path)
    if settings and settings.policy_s3_uri:
        from imagewatch.handler import resolve_policies

        where = settings.policy_s3_uri
        try:
            path = resolve_policies(settings).policy_path
        except Exception as exc:  # botocore, S3 answers: reported, the other checks go on
            return fail(
                "policies",
                f"{where}: {type(exc).__name__}: {exc}",
                "check POLICY_S3_URI, the AWS credentials and s3:ListBucket/s3:GetObject on it",
                ExitCode.CONFIG,
            )
    loaded = load_policies(path)
    return policies_check(where, len(loaded.policies), loaded.errors, loaded.warnings)


def _ledger(settings: Settings | None, env: Mapping[str, str]) -> Check:
    from imagewatch.doctor_checks import inspect_location, ledger_file_check, ledger_table_check

    table = settings.state_table if settings else _env(env, "STATE_TABLE")
    if table:
        from imagewatch import aws
        from imagewatch.alerts.dynamodb_store import DynamoDbStore

        try:  # one Query page: what the run's role is allowed, unlike DescribeTable
            store = DynamoDbStore(table, aws.client("dynamodb"))
            next(iter(store.scan(settings.target if settings else "imagewatch-doctor", page_size=1)), None)
        except Exception as exc:  # StateStoreError says the code; botocore's own (no region, no credentials)
            return ledger_table_check(table, str(exc).removeprefix(f"state table {table}: "))
        return ledger_table_check(table, None)
    path = settings.state_path if settings else Path(_env(env, "STATE_PATH") or str(_default("state_path")))
    return ledger_file_check(path, *inspect_location(path, "file"))


def _reports(settings: Settings | None, env: Mapping[str, str]) -> Check:
    from imagewatch.doctor_checks import inspect_location, reports_bucket_check, reports_folder_check

    bucket = settings.report_bucket if settings else _env(env, "REPORT_BUCKET")
    if bucket:
        prefix = (
            settings.report_prefix
            if settings
            else _env(env, "REPORT_PREFIX") or str(_default("report_prefix"))
        )
        return reports_bucket_check(bucket, prefix)
    folder = settings.report_dir if settings else Path(_env(env, "REPORT_DIR") or str(_default("report_dir")))
    return reports_folder_check(folder, *inspect_location(folder, "folder"))


def _security_hub() -> Check:
    """SECURITY_HUB=on: is Security Hub enabled in the account and region findings would go to?"""
    from imagewatch.alerts.findings_delivery import ImportFailed
    from imagewatch.alerts.securityhub_client import SecurityHubClient
    from imagewatch.commands.exit_codes import ExitCode
    from imagewatch.doctor_checks import Check, fail

    try:
        hub = SecurityHubClient.from_environment().check_enabled()
    except ImportFailed as failed:
        if not failed.unavailable:  # the doctor's own user may not ask (the function's role may import)
            fix = "allow this user securityhub:DescribeHub to check it"
            return Check("Security Hub", "warn", f"not checked: {failed}", fix=fix)
        return fail("Security Hub", str(failed), "enable Security Hub there, or set SECURITY_HUB=off",
                    ExitCode.DELIVERY)  # fmt: skip
    except Exception as exc:  # no region or no credentials: the settings' business, said the same way
        return fail("Security Hub", f"{type(exc).__name__}: {exc}", "set AWS_REGION and AWS credentials",
                    ExitCode.CONFIG)  # fmt: skip
    return Check(
        "Security Hub",
        "ok",
        f"enabled in {hub.region}, account {hub.account}: findings go to {hub.product_arn}",
    )


def _send_test(settings: Settings | None, client: HssClient | None, channels: list[Channel]) -> Check:
    """The run's own test notification; it touches no ledger, so it gets an in-memory one."""
    from imagewatch.alerts.delivery import Deliverer
    from imagewatch.alerts.sqlite_store import SqliteStore
    from imagewatch.doctor_checks import send_test_check, skipped
    from imagewatch.report.sink import LocalReportSink
    from imagewatch.request import RunRequest
    from imagewatch.run import RunDeps, test_notification

    if settings is None or client is None:
        return skipped("test notification", "not sent: the settings are incomplete")
    deps = RunDeps(
        settings=settings,
        hss=client,
        store=SqliteStore(":memory:"),
        channels=channels,
        deliverer=Deliverer(),
        reports=LocalReportSink(settings.report_dir),
    )
    try:
        summary = test_notification(RunRequest("cli", action="test-notification"), deps)
    finally:
        deps.deliverer.close()
        deps.store.close()
    return send_test_check(summary)


def _can_print(text: str) -> bool:
    try:
        text.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True
