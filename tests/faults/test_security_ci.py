"""Security properties CI holds the package to: ruff's security rules stay on and clean, TLS
verification is never turned off, webhook URLs are https (http only to loopback), answers are read
within a size cap, and redirects are never followed (a redirect would carry a signed request or a
webhook's body to another host)."""

from __future__ import annotations

import ast
import ssl
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from imagewatch.alerts.delivery import MAX_ANSWER_BYTES, Channel, Deliverer
from imagewatch.alerts.ledger import ChannelRule
from imagewatch.alerts.routing import ChannelsFileError, parse_channels
from imagewatch.hss.auth import TokenAuth
from imagewatch.hss.client import MAX_BODY_BYTES, HssClient
from imagewatch.hss.errors import HssTransportError
from imagewatch.retry import RetryPolicy
from imagewatch.settings import Settings, SettingsError, check_url
from support.known_fleet import ROOT
from support.loopback_servers import EndlessAnswer

PACKAGE = ROOT / "functions" / "checker" / "imagewatch"
LOCAL_ONLY = ("emulator", "standins")  # loopback stand-ins, never deployed (the build leaves them out)
MiB = 1024 * 1024


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).with_name("ruff")
    command = [str(binary)] if binary.exists() else [sys.executable, "-m", "ruff"]
    return subprocess.run(
        [*command, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


# -- ruff S -------------------------------------------------------------------------------------------


def test_ruffs_security_rules_are_selected_for_the_package_and_only_asserts_are_ignored() -> None:
    lint = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert "S" in lint["select"]
    assert [code for code in lint.get("ignore", []) if code.startswith("S")] == ["S101"]
    for pattern, codes in lint.get("per-file-ignores", {}).items():
        if any(code == "S" or code.startswith("S") for code in codes):
            assert pattern in ("tests/**", "bench/**"), pattern


def test_ruffs_security_rules_are_in_force_on_the_package_and_it_is_clean() -> None:
    settings = ruff("check", "--show-settings", "functions/checker/imagewatch/alerts/delivery.py")
    assert settings.returncode == 0, settings.stderr
    for rule in (
        "request-with-no-cert-validation (S501)",
        "hardcoded-password-string (S105)",
        "suspicious-non-cryptographic-random-usage (S311)",
        "hardcoded-sql-expression (S608)",
    ):
        assert rule in settings.stdout
    checked = ruff("check", "--no-cache", "functions/checker/imagewatch")
    assert checked.returncode == 0 and "All checks passed!" in checked.stdout, checked.stdout


# -- TLS ------------------------------------------------------------------------------------------


def deployed_sources() -> list[Path]:
    return [
        path for path in sorted(PACKAGE.rglob("*.py")) if path.relative_to(PACKAGE).parts[0] not in LOCAL_ONLY
    ]


def test_no_deployed_module_turns_tls_verification_off() -> None:
    offences, clients = [], []
    for path in deployed_sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            verified = isinstance(node, ast.keyword) and ast.unparse(node.value) == "True"
            if isinstance(node, ast.keyword) and node.arg == "verify" and not verified:
                offences.append(f"{where}: verify={ast.unparse(node.value)}")
            if isinstance(node, ast.Attribute) and node.attr in ("CERT_NONE", "_create_unverified_context"):
                offences.append(f"{where}: {node.attr}")
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == "check_hostname" for t in node.targets
            ):
                offences.append(f"{where}: check_hostname assigned")
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("httpx.Client", "httpx.AsyncClient"):
                given = {k.arg: ast.unparse(k.value) for k in node.keywords}
                clients.append((where, given.get("verify"), given.get("follow_redirects")))
    assert offences == []
    assert clients and all(verify == "True" and redirects == "False" for _, verify, redirects in clients), (
        clients
    )


def test_the_real_clients_verify_certificates_and_host_names_and_follow_no_redirect() -> None:
    hss = HssClient("https://hss.example.com", "project", TokenAuth("t"))
    deliverer = Deliverer()
    try:
        for http in (hss._http, deliverer._http):
            context = http._transport._pool._ssl_context
            assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
            assert http.follow_redirects is False
    finally:
        hss.close()
        deliverer.close()


# -- https for webhooks ---------------------------------------------------------------------------------

ACCEPTED = [
    "https://hooks.slack.com/services/T0/B0/x",
    "https://open.feishu.cn/open-apis/bot/v2/hook/x",
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://[::1]:9/hook",
    "http://127.0.0.2/hook",
]
REFUSED = [
    "http://hooks.slack.com/services/T0/B0/x",
    "http://127.0.0.1.nip.io/hook",
    "http://localhost.evil.example/hook",
    "http://10.0.0.1/hook",
    "http://0.0.0.0/hook",
    "ftp://127.0.0.1/hook",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "https:///no-host",
    "//hooks.slack.com/services/x",
    "hooks.slack.com/services/x",
]


@pytest.mark.parametrize("url", ACCEPTED)
def test_https_or_loopback_http_is_accepted(url: str) -> None:
    assert check_url("WEBHOOK_URL", url) == url
    [channel] = parse_channels('{"channels": [{"name": "c", "url": "${U_URL}"}]}', "test", {"U_URL": url})
    assert channel.url == url


@pytest.mark.parametrize("url", REFUSED)
def test_anything_else_is_refused_by_the_settings_and_the_channels_loader(url: str) -> None:
    with pytest.raises(SettingsError, match=r"^WEBHOOK_URL: got \(set, hidden\), expected an https://"):
        Settings.from_env(
            {"HSS_PROJECT_ID": "p", "HSS_REGION": "cn-north-4", "HSS_AUTH_TOKEN": "t", "WEBHOOK_URL": url}
        )
    with pytest.raises(ChannelsFileError) as refused:
        parse_channels('{"channels": [{"name": "c", "url": "${U_URL}"}]}', "test", {"U_URL": url})
    assert refused.value.problems == [
        "/channels/0/url: expected an https:// URL (http:// only for 127.0.0.1/localhost)"
    ]
    assert url not in str(refused.value)


@pytest.mark.parametrize("variable", ["HSS_ENDPOINT", "HSS_IAM_ENDPOINT"])
def test_hss_and_iam_endpoints_are_https_too(variable: str) -> None:
    env = {"HSS_PROJECT_ID": "p", "HSS_REGION": "cn-north-4", "HSS_AUTH_TOKEN": "t"}
    with pytest.raises(SettingsError, match=f"^{variable}: got 'http://hss.example.com'"):
        Settings.from_env({**env, variable: "http://hss.example.com"})


# -- size caps ----------------------------------------------------------------------------------------


def test_an_oversized_hss_answer_is_refused_without_reading_it_all() -> None:
    with EndlessAnswer() as server:
        client = HssClient(server.url(""), "project", TokenAuth("t"), retry=RetryPolicy(max_attempts=1))
        with pytest.raises(HssTransportError) as refused:
            list(client.list_images())
        client.close()
        assert server.hung_up.wait(10)
    assert str(refused.value) == (
        "ListImageLocal offset 0: no usable answer after 1 attempts: "
        f"answer larger than {MAX_BODY_BYTES} bytes; refusing to read it"
    )
    assert MAX_BODY_BYTES <= server.body_bytes_sent < MAX_BODY_BYTES + 16 * MiB  # socket buffers at most


def test_a_webhook_answer_is_read_only_up_to_its_cap() -> None:
    from imagewatch.alerts.channels import platform_for

    with EndlessAnswer() as server:
        generic = platform_for(server.url(), "generic")
        deliverer = Deliverer(sleep=lambda _: None)
        outcome = deliverer.send(Channel("c", generic, server.url(), ChannelRule("c")), {"title": "t"})
        deliverer.close()
        assert server.hung_up.wait(10)
    assert outcome.ok and outcome.attempts == 1  # 200 is success; the rest of the answer is never read
    assert server.body_bytes_sent < MAX_ANSWER_BYTES + 16 * MiB
