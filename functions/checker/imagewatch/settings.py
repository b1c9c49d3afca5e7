"""The one place that reads configuration (the contract in docs/configuration.md).

Settings come from environment variables; in AWS a Secrets Manager secret's JSON object overlays them
(``SETTINGS_SECRET``). Secret values are kept out of ``repr`` and out of ``redacted()``, which is what
reports and summaries show.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from msgspec import Struct, structs

SECRET_NAMES = frozenset(
    {
        "HSS_AK",
        "HSS_SK",
        "HSS_SECURITY_TOKEN",
        "HSS_AUTH_TOKEN",
        "HSS_IAM_PASSWORD",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
    }
)


class SettingsError(ValueError):
    """A setting is missing or malformed; names the variable, never a secret's value."""

    def __init__(self, variable: str, value: str | None, expected: str) -> None:
        self.variable = variable
        shown = "(set, hidden)" if variable in SECRET_NAMES and value else repr(value)
        super().__init__(f"{variable}: got {shown}, expected {expected}")


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(variable: str, url: str) -> str:
    """An https URL, or http only towards this machine (the emulator, test stand-ins)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and is_loopback_url(url):
        return url
    raise SettingsError(variable, url, "an https:// URL (http:// only for 127.0.0.1/localhost)")


class Settings(Struct, frozen=True):
    """Everything a run is configured with. Build with ``Settings.from_env``."""

    hss_project_id: str
    hss_endpoint: str
    hss_region: str | None = None
    hss_enterprise_project_id: str | None = None
    hss_ak: str | None = None
    hss_sk: str | None = None
    hss_security_token: str | None = None
    hss_auth_token: str | None = None
    hss_iam_user: str | None = None
    hss_iam_password: str | None = None
    hss_iam_domain: str | None = None
    hss_iam_endpoint: str | None = None
    policy_path: Path = Path("policies")
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_platform: str | None = None
    channels_file: Path | None = None
    state_table: str | None = None
    state_path: Path = Path(".imagewatch/state.sqlite3")
    report_bucket: str | None = None
    report_prefix: str = "imagewatch/"
    report_dir: Path = Path(".imagewatch/reports")
    report_link_ttl_s: int = 86_400
    policy_s3_uri: str | None = None
    ledger_ttl_days: int = 30
    hss_max_in_flight: int | None = None  # None: the client's default
    hss_max_rps: float | None = None
    target: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and check the contract's variables; empty values count as unset."""

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value and value.strip() else None

        from imagewatch.hss.endpoint import check_region, hss_endpoint, iam_endpoint

        project = get("HSS_PROJECT_ID")
        if not project:
            raise SettingsError("HSS_PROJECT_ID", None, "the HSS project id (My Credentials → Projects)")
        region = get("HSS_REGION")
        if region:
            try:
                check_region(region)
            except ValueError:
                raise SettingsError("HSS_REGION", region, "a region id such as 'cn-north-4'") from None
        endpoint = get("HSS_ENDPOINT")
        if endpoint:
            endpoint = check_url("HSS_ENDPOINT", endpoint)
        elif region:
            endpoint = hss_endpoint(region)
        else:
            raise SettingsError("HSS_ENDPOINT", None, "HSS_REGION or HSS_ENDPOINT to be set")
        iam = get("HSS_IAM_ENDPOINT")
        iam = check_url("HSS_IAM_ENDPOINT", iam) if iam else (iam_endpoint(region) if region else endpoint)
        webhook = get("WEBHOOK_URL")
        if webhook:
            check_url("WEBHOOK_URL", webhook)
        _check_credentials(get)
        optional_path = get("CHANNELS_FILE")
        settings = cls(
            hss_project_id=project,
            hss_endpoint=endpoint,
            hss_region=region,
            hss_enterprise_project_id=get("HSS_ENTERPRISE_PROJECT_ID"),
            hss_ak=get("HSS_AK"),
            hss_sk=get("HSS_SK"),
            hss_security_token=get("HSS_SECURITY_TOKEN"),
            hss_auth_token=get("HSS_AUTH_TOKEN"),
            hss_iam_user=get("HSS_IAM_USER"),
            hss_iam_password=get("HSS_IAM_PASSWORD"),
            hss_iam_domain=get("HSS_IAM_DOMAIN"),
            hss_iam_endpoint=iam,
            policy_path=Path(get("POLICY_PATH") or "policies"),
            webhook_url=webhook,
            webhook_secret=get("WEBHOOK_SECRET"),
            webhook_platform=get("WEBHOOK_PLATFORM"),
            channels_file=Path(optional_path) if optional_path else None,
            state_table=get("STATE_TABLE"),
            state_path=Path(get("STATE_PATH") or ".imagewatch/state.sqlite3"),
            report_bucket=get("REPORT_BUCKET"),
            report_prefix=get("REPORT_PREFIX") or "imagewatch/",
            report_dir=Path(get("REPORT_DIR") or ".imagewatch/reports"),
            report_link_ttl_s=_number(
                "REPORT_LINK_TTL_SECONDS", get("REPORT_LINK_TTL_SECONDS"), 0, 604_800, int, 86_400
            ),
            policy_s3_uri=get("POLICY_S3_URI"),
            ledger_ttl_days=_number("LEDGER_TTL_DAYS", get("LEDGER_TTL_DAYS"), 1, 3650, int, 30),
            hss_max_in_flight=_number("HSS_MAX_IN_FLIGHT", get("HSS_MAX_IN_FLIGHT"), 1, 32, int),
            hss_max_rps=_number("HSS_MAX_RPS", get("HSS_MAX_RPS"), 0.1, 1000.0, float),
        )
        return structs.replace(settings, target=settings.default_target())

    def default_target(self) -> str:
        """The ledger partition: which HSS project (and enterprise project) this run watches."""
        eps = self.hss_enterprise_project_id or "0"
        return f"{self.hss_region or urlsplit(self.hss_endpoint).netloc}/{self.hss_project_id}/{eps}"

    @property
    def auth_mode(self) -> str:
        if self.hss_ak:
            return "aksk-temporary" if self.hss_security_token else "aksk"
        if self.hss_auth_token:
            return "token"
        return "iam-password"

    def redacted(self) -> dict[str, object]:
        """Settings in force, as reports show them: secrets replaced by whether they are set."""
        out: dict[str, object] = {}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if name.upper() in SECRET_NAMES:
                out[name] = "(set)" if value else None
            else:
                out[name] = str(value) if isinstance(value, Path) else value
        out["auth_mode"] = self.auth_mode
        return out

    def __repr__(self) -> str:
        """Secrets show as whether they are set, never their value."""
        shown = ", ".join(f"{name}={value!r}" for name, value in self.redacted().items())
        return f"Settings({shown})"


def _number(
    variable: str, value: str | None, low: float, high: float, kind: Callable[[str], Any], default: Any = None
) -> Any:
    """``value`` as ``kind`` (int or float) within ``low..high``; ``default`` when unset."""
    if value is None:
        return default
    try:
        number = kind(value)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        expected = "a whole number" if kind is int else "a number"
        raise SettingsError(variable, value, f"{expected} in {low:g}..{high:g}")
    return number


def _check_credentials(read: Callable[[str], str | None]) -> None:
    """One complete way to authenticate must be configured (AK/SK wins over a token over a password)."""
    ak, sk = read("HSS_AK"), read("HSS_SK")
    if ak or sk:
        if not ak:
            raise SettingsError("HSS_AK", None, "an access key to go with HSS_SK")
        if not sk:
            raise SettingsError("HSS_SK", None, "a secret key to go with HSS_AK")
        return
    if read("HSS_AUTH_TOKEN"):
        return
    names = ("HSS_IAM_USER", "HSS_IAM_PASSWORD", "HSS_IAM_DOMAIN")
    values = [read(name) for name in names]
    if any(values):
        for name, value in zip(names, values, strict=True):
            if not value:
                raise SettingsError(name, None, "a value: IAM password login needs user, password and domain")
        return
    raise SettingsError(
        "HSS_AK",
        None,
        "credentials: HSS_AK + HSS_SK, or HSS_AUTH_TOKEN, "
        "or HSS_IAM_USER + HSS_IAM_PASSWORD + HSS_IAM_DOMAIN",
    )
