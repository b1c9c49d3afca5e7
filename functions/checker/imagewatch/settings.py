"""The one place that reads configuration (the contract in docs/configuration.md).

Settings come from environment variables; in AWS a Secrets Manager secret's JSON object overlays them
(``SETTINGS_SECRET``). Secret values are kept out of ``repr`` and out of ``redacted()``, which is what
reports and summaries show.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from msgspec import Struct, structs

from imagewatch.untrusted_json import NOT_UNICODE, has_lone_surrogate

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


# The variables of the ways to authenticate (docs/hss.md: AK/SK wins over a token over a password).
CREDENTIAL_VARIABLES = (
    "HSS_AK",
    "HSS_SK",
    "HSS_SECURITY_TOKEN",
    "HSS_AUTH_TOKEN",
    "HSS_IAM_USER",
    "HSS_IAM_PASSWORD",
    "HSS_IAM_DOMAIN",
    "HSS_IAM_ENDPOINT",
)

# Every variable imagewatch reads (the contract: README.md, "Configuration"). A name set in the
# environment that is none of these but is spelled like an unset one is kept in ``Settings.unread``.
CONTRACT = (
    "HSS_REGION",
    "HSS_ENDPOINT",
    "HSS_ENDPOINT_ALLOWLIST",
    "HSS_PROJECT_ID",
    "HSS_ENTERPRISE_PROJECT_ID",
    *CREDENTIAL_VARIABLES,
    "HSS_MAX_IN_FLIGHT",
    "HSS_MAX_RPS",
    "POLICY_PATH",
    "POLICY_S3_URI",
    "WEBHOOK_URL",
    "WEBHOOK_SECRET",
    "WEBHOOK_PLATFORM",
    "WEBHOOK_HOST_ALLOWLIST",
    "CHANNELS_FILE",
    "CHANNELS_JSON",
    "STATE_TABLE",
    "STATE_PATH",
    "LEDGER_TTL_DAYS",
    "REPORT_BUCKET",
    "REPORT_PREFIX",
    "REPORT_DIR",
    "REPORT_LINK_TTL_SECONDS",
    "SETTINGS_SECRET",
    "SLA",
    "SECURITY_HUB",
)
# How alike (difflib's ratio) a name must be to an unset variable to be taken for it: WEBHOOK_ULR is
# 0.91 like WEBHOOK_URL, POLICIES_PATH 0.83 like POLICY_PATH; AWS_REGION is 0.8 like HSS_REGION and
# must not be (and names of AWS's own are never taken: Lambda sets a dozen).
SIMILAR = 0.81
FOREIGN_PREFIXES = ("AWS_", "LAMBDA_", "_")


class SettingsError(ValueError):
    """A setting is missing or malformed; names the variable, never a secret's value (nor the password
    of a ``user:password@`` URL)."""

    def __init__(self, variable: str, value: str | None, expected: str) -> None:
        self.variable = variable
        self.expected = expected
        shown = "(set, hidden)" if variable in SECRET_NAMES and value else repr(without_userinfo(value))
        super().__init__(f"{variable}: got {shown}, expected {expected}")


class SlaSettingsError(SettingsError):
    """The ``SLA`` setting is wrong: ``SLA: "hgih=30d": unknown severity 'hgih' (did you mean …)``."""

    def __init__(self, piece: str, problem: str) -> None:
        ValueError.__init__(self, f'SLA: "{piece}": {problem}')
        self.variable, self.expected = "SLA", problem


_USERINFO = r"(?<=//)[^/?#]*@"  # for messages only: compiled (and cached) by re on first use


def without_userinfo(value: str | None) -> str | None:
    """``value`` with any ``user:password@`` of a URL in it replaced by ``***@``, for messages."""
    return re.sub(_USERINFO, "***@", value) if value else value


def is_local_mode(env: Mapping[str, str]) -> bool:
    """Running on a laptop, in CI or in the demo, not in Lambda: Lambda always sets
    ``AWS_LAMBDA_FUNCTION_NAME``. Only local mode may post webhooks to this machine (the stand-ins)."""
    return "AWS_LAMBDA_FUNCTION_NAME" not in env


def is_loopback_url(url: str) -> bool:
    """The URL names this machine (127.0.0.0/8, ::1, localhost): where plain http is acceptable."""
    return _is_loopback_host(urlsplit(url).hostname or "")


def _is_loopback_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_URL_TEXT = re.compile(r"^[!-~]+$")  # printable ASCII, no spaces or control characters
_NO_CREDENTIALS = "no user:password@ in it (credentials in a URL reach logs, chat and reports)"


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be used as an http(s) address at all, or None. The host httpx will connect
    to must be the host checked here: a URL the parsers disagree on is refused."""
    if not _URL_TEXT.fullmatch(url):
        return "a URL of printable characters without spaces"
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
        sent = httpx.URL(url).raw_host.decode("ascii", "replace")  # IDNA-encoded, as sent
    except (ValueError, httpx.InvalidURL):
        return "a well-formed URL"
    if parts.scheme not in ("https", "http") or not host:
        return None  # the caller's scheme rule says it best
    if "@" in parts.netloc:
        return _NO_CREDENTIALS
    if "\\" in url or sent.lower() != host or (port is not None and not 0 < port < 65536):
        return "a URL with one unambiguous host"
    return None


def check_url(variable: str, url: str) -> str:
    """An https URL, or http only towards this machine (the emulator, test stand-ins); never with
    credentials in it. For the endpoints the operator configures (HSS, IAM)."""
    problem = url_problem(url)
    if problem:
        raise SettingsError(variable, url, problem)
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise SettingsError(variable, url, "an endpoint URL without ?query or #fragment")
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and is_loopback_url(url):
        return url
    raise SettingsError(variable, url, "an https:// URL (http:// only for 127.0.0.1/localhost)")


_HOST_ENTRY = re.compile(r"^[a-z0-9._\-\[\]:]+$")


def host_allowlist(variable: str, value: str | None) -> frozenset[str]:
    """A comma-separated list of hosts (``name``, ``1.2.3.4``, ``[::1]``, each optionally ``:port``),
    lower-cased; a host alone allows every port of it."""
    if not value:
        return frozenset()
    entries: set[str] = set()
    for raw in value.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        try:
            parts = urlsplit(f"//{entry}")
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            parts = None
        if parts is None or not parts.hostname or parts.netloc != entry or not _HOST_ENTRY.fullmatch(entry):
            raise SettingsError(variable, value, f"comma-separated hosts such as 'chat.example.com' or "
                                f"'10.0.0.5:8443' (entry {entry[:80]!r} is not a host)")  # fmt: skip
        entries.add(entry)
    return frozenset(entries)


def host_key(url: str) -> str:
    """``host`` or ``host:port`` of ``url`` (lower-case, IPv6 in brackets, the scheme's default port
    left out), never its userinfo: how allowlists and the ledger partition name an endpoint."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return shown if parts.port in (None, default) else f"{shown}:{parts.port}"


def in_allowlist(url: str, allowed: frozenset[str]) -> bool:
    """``url``'s host is listed, alone (any port) or with its port."""
    key = host_key(url)
    host = key.rsplit(":", 1)[0] if not key.endswith("]") and ":" in key else key
    return key in allowed or host in allowed


# -- webhook hosts: what a chat URL may point at --------------------------------------------------------

_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_SPECIAL_SUFFIXES = (".local", ".internal", ".localdomain", ".home.arpa", ".arpa")


def _address_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address, local: bool) -> str | None:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is None and address in ipaddress.ip_network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return "a host name or a plain address (an IPv6 address wrapping an IPv4 one is refused)"
    if address.is_loopback:
        return None if local else "a public host (loopback is allowed only when running locally)"
    if address.is_unspecified or address.is_multicast or address.is_link_local or not address.is_global:
        return "a public host (private, link-local, multicast, reserved, unspecified addresses are refused)"
    return None


def webhook_host_problem(url: str, env: Mapping[str, str]) -> str | None:
    """Why a webhook URL's host is refused, or None: chat goes to public hosts. Loopback only in local
    mode; private, link-local (the metadata service), multicast, reserved and unspecified addresses,
    numeric spellings that hide an address, and special-use names never — unless the host is listed in
    ``WEBHOOK_HOST_ALLOWLIST``. DNS names are not resolved here: this refuses what the URL says."""
    host = urlsplit(url).hostname or ""
    if in_allowlist(url, host_allowlist("WEBHOOK_HOST_ALLOWLIST", env.get("WEBHOOK_HOST_ALLOWLIST"))):
        return None
    local = is_local_mode(env)
    if host.endswith("."):
        return "a host name without a trailing dot"
    if host == "localhost" or host.endswith(".localhost"):
        return None if local else "a public host (loopback is allowed only when running locally)"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        problem = _address_problem(address, local)
        if problem is None and str(address) != host:
            return "an address written in its usual form (e.g. 192.0.2.10)"
        return problem
    if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
        return "a host name or a dotted-decimal address (numeric spellings such as 0x7f000001 are refused)"
    if "." not in host or host.endswith(_SPECIAL_SUFFIXES):
        return "a public host name (single-label and special-use names such as .internal are refused)"
    return None


def check_webhook_url(variable: str, url: str, env: Mapping[str, str]) -> str:
    """A chat webhook: https (http only to loopback in local mode), no credentials in it, and a public
    host (``webhook_host_problem``)."""
    problem = url_problem(url)
    if problem is None:
        parts = urlsplit(url)
        plain = parts.scheme == "http" and is_loopback_url(url)
        if not parts.hostname or (parts.scheme != "https" and not plain):
            problem = "an https:// URL (http:// only for 127.0.0.1/localhost)"
        else:
            problem = webhook_host_problem(url, env)
    if problem:
        raise SettingsError(variable, url, problem)
    return url


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
    # the SLA setting: time to fix (ms, None: no clock) per severity, the defaults overlaid (imagewatch.sla)
    sla: tuple[tuple[str, int | None], ...] | None = None
    security_hub: bool = False  # SECURITY_HUB=on: each open violation is a finding in AWS Security Hub
    # (name set, the unset variable it is spelled like): names only, for misconfiguration warnings
    unread: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and check the contract's variables; empty values count as unset."""

        def get(name: str) -> str | None:
            value = env.get(name)
            if value and has_lone_surrogate(value):  # undecodable bytes, or half a \ud800 pair
                raise SettingsError(name, value, NOT_UNICODE)
            return value.strip() if value and value.strip() else None

        from imagewatch.hss.endpoint import check_region, hss_endpoint, iam_endpoint, region_of_endpoint

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
        if iam:
            iam = check_url("HSS_IAM_ENDPOINT", iam)
        else:
            # the region's IAM; else the IAM of the region a Huawei Cloud HSS endpoint names; else the
            # endpoint itself (the emulator serves both): never a guess at some other host
            known = region or region_of_endpoint(endpoint)
            iam = iam_endpoint(known) if known else endpoint
        host_allowlist("HSS_ENDPOINT_ALLOWLIST", get("HSS_ENDPOINT_ALLOWLIST"))
        host_allowlist("WEBHOOK_HOST_ALLOWLIST", get("WEBHOOK_HOST_ALLOWLIST"))
        webhook = get("WEBHOOK_URL")
        if webhook:
            check_webhook_url("WEBHOOK_URL", webhook, env)
        _check_credentials(get)
        optional_path = get("CHANNELS_FILE")
        sla = _sla(get("SLA"))
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
            sla=sla,
            security_hub=_switch("SECURITY_HUB", get("SECURITY_HUB")),
            unread=near_misses(env, CONTRACT, [name for name in CONTRACT if not get(name)]),
        )
        return structs.replace(settings, target=settings.default_target())

    @property
    def sla_by_severity(self) -> dict[str, int | None] | None:
        """The ``SLA`` setting as a mapping, or None for the defaults (``imagewatch.sla.DEFAULT_SLA``)."""
        return dict(self.sla) if self.sla is not None else None

    def default_target(self) -> str:
        """The ledger partition: which HSS project (and enterprise project) this run watches, and
        where: ``region/project/eps`` for the region's own endpoint (the key since the first release),
        ``region@host/…`` for any other endpoint, ``host/…`` without a region. So an answer from
        another endpoint can never resolve the violations a region's endpoint reported."""
        from imagewatch.hss.endpoint import hss_endpoint

        eps = self.hss_enterprise_project_id or "0"
        host = host_key(self.hss_endpoint)
        if not self.hss_region:
            place = host
        elif _same_endpoint(self.hss_endpoint, hss_endpoint(self.hss_region)):
            place = self.hss_region
        else:
            place = f"{self.hss_region}@{host}"
        return f"{place}/{self.hss_project_id}/{eps}"

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
            if name == "unread":
                continue  # not a setting: names the environment holds that nothing reads
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


def _sla(text: str | None) -> tuple[tuple[str, int | None], ...] | None:
    """The ``SLA`` setting parsed (``critical=7d,high=30d,info=none``), or None when unset."""
    if text is None:
        return None
    from imagewatch.sla import SlaSettingError, parse_sla

    try:
        return tuple(parse_sla(text).items())
    except SlaSettingError as exc:
        raise SlaSettingsError(exc.piece, exc.problem) from None


SWITCH_WORDS = {"true": "on", "yes": "on", "1": "on", "enabled": "on", "enable": "on",
                "false": "off", "no": "off", "0": "off", "disabled": "off", "disable": "off"}  # fmt: skip


def _switch(variable: str, value: str | None) -> bool:
    """``on``/``off`` (any case; unset is off); anything else is an error that says which was meant."""
    if value is None or value.lower() == "off":
        return False
    if value.lower() == "on":
        return True
    from imagewatch.suggest import did_you_mean

    hint = did_you_mean(value.lower(), ["on", "off"], SWITCH_WORDS)
    raise SettingsError(variable, value, f"on or off{hint}")


def near_misses(
    names: Iterable[str], known: Iterable[str], unset: Iterable[str]
) -> tuple[tuple[str, str], ...]:
    """(name, variable) for each of ``names`` that is not a ``known`` variable but is spelled like an
    ``unset`` one: the same in another case (``webhook_url``), or at least ``SIMILAR`` alike
    (``WEBHOOK_ULR`` → ``WEBHOOK_URL``). A misspelt variable is otherwise silent: the run goes on
    without it. Names only, never values."""
    known_names = frozenset(known)
    candidates = sorted(frozenset(unset))
    strangers = sorted(
        n for n in names if n not in known_names and not n.upper().startswith(FOREIGN_PREFIXES)
    )
    if not candidates or not strangers:
        return ()
    import difflib  # only here, at run time: never on the cold start's path

    found = []
    for name in strangers:
        upper = name.upper()
        close = [upper] if upper in candidates else difflib.get_close_matches(upper, candidates, 1, SIMILAR)
        if close:
            found.append((name, close[0]))
    return tuple(found)


def _same_endpoint(a: str, b: str) -> bool:
    """Same scheme, host, port and path (a trailing slash aside)."""
    one, two = urlsplit(a), urlsplit(b)
    return (one.scheme, host_key(a), one.path.rstrip("/")) == (two.scheme, host_key(b), two.path.rstrip("/"))


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
