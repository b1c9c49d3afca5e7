"""What a person sees: the human summary, progress on a terminal (only there), ``-q``, ``-v``,
``--version``, help, UTF-8 payloads, exemption labels, and no secret at any verbosity.

The real command runs as a subprocess against the emulator and a webhook sink; "a terminal" is a
pseudo-terminal for stdout and for stderr (``support.terminal_session``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from imagewatch.emulator import Emulator
from imagewatch.emulator.auth import DEMO_IAM_DOMAIN, DEMO_IAM_PASSWORD, DEMO_IAM_USER, DEMO_SK, DEMO_TOKEN
from imagewatch.standins.webhook_sink import WebhookSink
from imagewatch.terminal import strip_controls
from support.cli import run_imagewatch
from support.terminal_session import at_terminal

pytestmark = pytest.mark.slow
COMMAND = [sys.executable, "-m", "imagewatch.cli"]


def imagewatch(*args: str) -> subprocess.CompletedProcess[str]:
    return run_imagewatch(*args)


def without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}


def test_the_human_summary_of_a_run(env: dict, sink: WebhookSink) -> None:
    done = imagewatch("run", "--format", "human")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("target      127.0.0.1:") and "/demo-project" in lines[0]
    assert "status      ok" in lines
    assert "violations  8: 2 critical · 3 high · 3 medium" in lines
    assert "alerts      8 new · 0 resolved · 0 still open" in lines
    assert "channels    ✓ default (generic): delivered · 8 new" in lines
    report = next(line for line in lines if line.startswith("report"))
    assert Path(report.split()[-1]).is_file()
    assert not any(line.startswith("exit") for line in lines)
    assert "{" not in done.stdout  # not the JSON document


def test_a_terminal_gets_the_summary_in_colour_and_progress_on_stderr(env: dict, sink: WebhookSink) -> None:
    session = at_terminal([*COMMAND, "run"], env=without("CI"))
    assert session.returncode == 0, session.stderr
    shown = strip_controls(session.stdout.decode())
    assert "\x1b[" in session.stdout.decode()  # colour
    assert re.search(r"violations\s+8: 2 critical · 3 high · 3 medium", shown)
    progress = session.stderr.decode()
    assert re.search(r"\rreading all images · page 1/1 · 9/9 records", progress), progress
    assert progress.endswith("\r\x1b[K")  # the line is erased before the summary is read


def test_without_rich_a_terminal_gets_the_same_summary_as_plain_text(env: dict, sink: WebhookSink) -> None:
    """rich is the CLI's optional extra; an install without it loses the colours, nothing else."""
    no_rich = (
        "import sys; sys.modules['rich'] = None; from imagewatch.cli import main; sys.exit(main(['run']))"
    )
    session = at_terminal([sys.executable, "-c", no_rich], env=without("CI"))
    assert session.returncode == 0, session.stderr
    assert b"\x1b" not in session.stdout
    assert "violations  8: 2 critical · 3 high · 3 medium" in session.stdout.decode().splitlines()


def test_no_progress_in_ci_or_when_stderr_is_not_a_terminal(env: dict, sink: WebhookSink) -> None:
    in_ci = at_terminal([*COMMAND, "run", "--dry-run"], env={**os.environ, "CI": "true"})
    assert in_ci.returncode == 0 and b"reading" not in in_ci.stderr
    logging = at_terminal([*COMMAND, "run", "--dry-run", "-v"], env=without("CI"))  # logs own stderr
    assert b"run starting" in logging.stderr and b"reading" not in logging.stderr
    piped = imagewatch("run", "--dry-run", "--format", "human")
    assert piped.returncode == 0 and piped.stderr == ""


def test_quiet_prints_only_errors(env: dict, sink: WebhookSink, monkeypatch: pytest.MonkeyPatch) -> None:
    fine = imagewatch("run", "-q")
    assert (fine.returncode, fine.stdout, fine.stderr) == (0, "", "")
    monkeypatch.setenv("HSS_SK", "wrong")
    failed = imagewatch("run", "--quiet")
    assert failed.returncode == 3 and failed.stdout == ""
    said = failed.stderr.splitlines()
    assert said[0] == "imagewatch run: exit 3, HSS read failed or incomplete: no inventory could be read"
    assert "HTTP 401" in said[1]


def test_verbose_logs_the_run_to_stderr(env: dict, sink: WebhookSink) -> None:
    verbose = imagewatch("run", "-v")
    logs = [json.loads(line) for line in verbose.stderr.splitlines()]
    assert [entry["message"] for entry in logs] == ["run starting", "run finished"]
    assert all(entry["level"] == "INFO" for entry in logs)
    assert json.loads(verbose.stdout)["status"] == "ok"
    assert imagewatch("run").stderr == ""


def test_version_comes_from_the_installed_package() -> None:
    done = imagewatch("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"imagewatch {version('imagewatch')}"


def test_help_says_what_each_flag_does_and_keeps_the_exit_code_table() -> None:
    top = imagewatch("--help").stdout
    assert "exit codes:\n  0  success\n  1  violations at or above --fail-on SEVERITY" in top
    assert "when several apply: 2, then 3, then 5, then 6, then 4, then 1" in top
    for command in ("run", "invoke", "preview"):
        page = re.sub(r"\s+", " ", imagewatch(command, "--help").stdout)
        assert "--format {human,json}" in page and "--fail-on SEVERITY" in page
        assert "-v, --verbose run logs to stderr" in page and "-q, --quiet print only errors" in page
        assert "exit codes: 0 success" in page


def add_exemptions(policy_dir: Path) -> str:
    """high-severity: image a exempt until in three days, image g's exemption expired."""
    policy = json.loads((policy_dir / "high-severity.json").read_text())
    soon = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%d")
    policy["exempt"] = [
        {
            "where": {"field": "image_name", "op": "eq", "value": f"shop/{image}"},
            "reason": "r",
            "expires": date,
        }
        for image, date in (("a", soon), ("g", "2020-01-01"))
    ]
    policy.pop("examples", None)
    (policy_dir / "high-severity.json").write_text(json.dumps(policy))
    return soon


def test_a_dry_run_prints_payloads_as_real_utf8(
    env: dict, sink: WebhookSink, policy_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: ``--dry-run`` printed ``\\ud83d\\udd52`` where the Slack payload has 🕒."""
    add_exemptions(policy_dir)
    monkeypatch.setenv("WEBHOOK_PLATFORM", "slack")
    done = imagewatch("run", "--dry-run", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert "🕒 exemption high-severity/exempt/0 expires" in done.stdout
    assert "\\ud83d" not in done.stdout and "\\u00b7" not in done.stdout
    human = imagewatch("run", "--dry-run", "--format", "human")
    assert "--- would send to channel default (slack) ---" in human.stdout
    assert "*NEW* · *CRITICAL* · No images containing malicious files" in human.stdout  # Slack's text view
    assert sink.attempts == 0


def test_exemptions_name_images_by_their_labels(env: dict, sink: WebhookSink, policy_dir: Path) -> None:
    """Issue 14: subjects showed as ids (``uuid@uuid``) where a label exists."""
    soon = add_exemptions(policy_dir)
    summary = json.loads(imagewatch("run", "--format", "json").stdout)
    assert [(e["subjects"], e["labels"]) for e in summary["exemptions"]["expired"]] == [
        (["g"], ["shop/g:1.0"])
    ]
    assert [e["labels"] for e in summary["exemptions"]["expiring_soon"]] == [["shop/a:1.0"]]
    lines = imagewatch("run", "--format", "human").stdout.splitlines()
    assert "exemptions  1 records let pass" in lines
    assert "            high-severity/exempt/1 expired 2020-01-01: shop/g:1.0" in lines
    assert f"            high-severity/exempt/0 expires {soon}: shop/a:1.0" in lines


@pytest.fixture(params=["aksk", "token", "iam-password", "wrong-password"])
def credentials(
    request: pytest.FixtureRequest, env: dict, hss: Emulator, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Each way to authenticate, as settings; returns the kind."""
    kind = request.param
    if kind != "aksk":
        monkeypatch.delenv("HSS_AK")
        monkeypatch.delenv("HSS_SK")
    if kind == "token":
        monkeypatch.setenv("HSS_AUTH_TOKEN", DEMO_TOKEN)
    if kind in ("iam-password", "wrong-password"):
        monkeypatch.setenv("HSS_IAM_USER", DEMO_IAM_USER)
        monkeypatch.setenv("HSS_IAM_DOMAIN", DEMO_IAM_DOMAIN)
        monkeypatch.setenv("HSS_IAM_ENDPOINT", hss.url)
        monkeypatch.setenv(
            "HSS_IAM_PASSWORD", DEMO_IAM_PASSWORD if kind == "iam-password" else "wrong-Pa55word"
        )
    return kind


@pytest.mark.parametrize("loudness", ["-v", "-vv"])
def test_no_secret_is_printed_at_any_verbosity(
    credentials: str, loudness: str, env: dict, sink: WebhookSink, policy_dir: Path
) -> None:
    add_exemptions(policy_dir)  # exemption notes, labels: more text in the output
    sink.fail_next(1, 500, b"boom")  # a delivery error message too
    done = imagewatch("run", loudness, "--format", "human")
    json_done = imagewatch("run", loudness, "--format", "json")
    assert done.returncode in (0, 4) if credentials != "wrong-password" else done.returncode == 3
    shown = done.stdout + done.stderr + json_done.stdout + json_done.stderr
    assert "run starting" in shown  # the logs were on
    secrets = [
        DEMO_SK,
        DEMO_TOKEN,
        DEMO_IAM_PASSWORD,
        "wrong-Pa55word",
        "e2e-signing-secret",  # WEBHOOK_SECRET
        sink.url,
        urlsplit(sink.url).path,  # the webhook's path is its credential
    ]
    assert [secret for secret in secrets if secret in shown] == []
