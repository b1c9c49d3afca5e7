"""What the emulator accepts as proof of identity: AK/SK signatures, IAM tokens, and the IAM token call.

AK/SK requests are verified by recomputing ``SDK-HMAC-SHA256`` with ``imagewatch.hss.signer.verify``
over exactly the headers the client named, the raw path and the raw query string: what is checked is
what travelled. Failures are 401 ``APIG.0301``; a token past its lifetime (or expired by the
``expire_token_after`` fault) is 401 ``APIG.0307``. Secrets never appear in messages or ``repr``.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from imagewatch.hss import signer

Clock = Callable[[], float]
MAX_CLOCK_SKEW_S = 15 * 60
DEFAULT_TOKEN_LIFETIME_S = 24 * 3600.0

DEMO_PROJECT_ID = "demo-project"
DEMO_AK = "DEMOAK"
DEMO_SK = "demo-secret"  # a documented demo credential for a loopback emulator
DEMO_TOKEN = "demo-token"  # noqa: S105
DEMO_IAM_USER = "demo-user"
DEMO_IAM_PASSWORD = "demo-password"  # noqa: S105
DEMO_IAM_DOMAIN = "demo-domain"


@dataclass(frozen=True)
class Credentials:
    """Who may call the emulator. Defaults are the documented demo credentials."""

    project_id: str = DEMO_PROJECT_ID
    access_key: str | None = DEMO_AK
    secret_key: str | None = field(default=DEMO_SK, repr=False)
    security_token: str | None = field(default=None, repr=False)  # required with the AK/SK when set
    tokens: tuple[str, ...] = field(default=(DEMO_TOKEN,), repr=False)  # static X-Auth-Token values
    iam_user: str | None = DEMO_IAM_USER
    iam_password: str | None = field(default=DEMO_IAM_PASSWORD, repr=False)
    iam_domain: str | None = DEMO_IAM_DOMAIN
    token_lifetime_s: float = DEFAULT_TOKEN_LIFETIME_S


@dataclass(frozen=True, slots=True)
class Denied:
    """A refusal: HTTP status and the error body's code and message."""

    status: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Granted:
    """An accepted request; ``token`` is set when it came with an X-Auth-Token."""

    via: str  # "aksk" or "token"
    token: str | None = None


def _denied(message: str, code: str = "APIG.0301") -> Denied:
    return Denied(401, code, message)


class Authenticator:
    """Checks requests against ``Credentials`` and issues IAM tokens, on an injectable clock."""

    def __init__(self, credentials: Credentials, clock: Clock = time.time) -> None:
        self.credentials = credentials
        self.clock = clock
        self.token_lifetime_s = credentials.token_lifetime_s
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = dict.fromkeys(credentials.tokens, float("inf"))
        self.tokens_issued = 0

    def __repr__(self) -> str:
        return f"Authenticator(project_id={self.credentials.project_id!r}, tokens={len(self._tokens)})"

    # -- tokens ----------------------------------------------------------------------------------

    def issue(self, lifetime_s: float | None = None) -> tuple[str, float]:
        """Mint a token valid for ``lifetime_s`` (default: the configured lifetime): (token, expires_at)."""
        token = "MII" + secrets.token_urlsafe(96)
        expires_at = self.clock() + (self.token_lifetime_s if lifetime_s is None else lifetime_s)
        with self._lock:
            self._tokens[token] = expires_at
            self.tokens_issued += 1
        return token, expires_at

    def expire(self, token: str) -> None:
        """Make ``token`` expired from now on (it stays known, so it gets APIG.0307, not APIG.0301)."""
        with self._lock:
            if token in self._tokens:
                self._tokens[token] = float("-inf")

    def _check_token(self, token: str) -> Granted | Denied:
        with self._lock:
            expires_at = self._tokens.get(token)
        if expires_at is None:
            return _denied("Incorrect IAM authentication information: the X-Auth-Token is not valid")
        if self.clock() >= expires_at:
            return _denied("The token must be updated: token expires", "APIG.0307")
        return Granted("token", token)

    # -- requests --------------------------------------------------------------------------------

    def check(
        self, method: str, raw_path: str, raw_query: str, headers: Mapping[str, str], body: bytes = b""
    ) -> Granted | Denied:
        """Accept a request signed with the configured AK/SK, or carrying a valid token."""
        lowered = {name.lower(): value for name, value in headers.items()}
        if "authorization" in lowered:
            return self._check_signature(method, raw_path, raw_query, lowered, body)
        if lowered.get("x-auth-token"):
            return self._check_token(lowered["x-auth-token"])
        return _denied(
            "Incorrect IAM authentication information: x-auth-token not found (and no Authorization)"
        )

    def _check_signature(
        self, method: str, raw_path: str, raw_query: str, headers: Mapping[str, str], body: bytes
    ) -> Granted | Denied:
        parsed = signer.parse_authorization(headers["authorization"])
        if parsed is None:
            return _denied(
                "Incorrect IAM authentication information: Authorization is not "
                "'SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...'"
            )
        access_key, signed, claimed = parsed
        creds = self.credentials
        if (
            not creds.access_key
            or not creds.secret_key
            or not hmac.compare_digest(access_key.encode(), creds.access_key.encode())
        ):
            return _denied(f"Incorrect IAM authentication information: unknown access key {access_key!r}")
        if "host" not in signed:
            return _denied(
                f"Incorrect IAM authentication information: SignedHeaders {';'.join(signed)!r} lack host"
            )
        date = headers.get("x-sdk-date", "")
        try:
            signed_at = datetime.strptime(date, signer.DATE_FORMAT).replace(tzinfo=UTC).timestamp()
        except ValueError:
            return _denied(
                f"Incorrect IAM authentication information: X-Sdk-Date {date!r} is not YYYYMMDDTHHMMSSZ"
            )
        skew = abs(self.clock() - signed_at)
        if skew > MAX_CLOCK_SKEW_S:
            return _denied(
                f"Incorrect IAM authentication information: X-Sdk-Date {date} is {skew:.0f} s from the "
                f"server clock, at most {MAX_CLOCK_SKEW_S} s allowed"
            )
        query = signer.split_query(raw_query)
        if not signer.verify(creds.secret_key, method, raw_path, query, headers, signed, claimed, body):
            return _denied("Incorrect IAM authentication information: verify aksk signature fail")
        if creds.security_token is not None:
            sent = headers.get("x-security-token", "")
            if not hmac.compare_digest(sent.encode(), creds.security_token.encode()):
                return _denied("Incorrect IAM authentication information: X-Security-Token missing or wrong")
        return Granted("aksk")

    # -- IAM /v3/auth/tokens ---------------------------------------------------------------------

    def password_token(self, body: bytes) -> tuple[str, dict[str, Any]] | Denied:
        """The IAM password flow: (token, answer body) for the right user/password/domain, else Denied."""
        try:
            auth = json.loads(body)["auth"]
            identity = auth["identity"]
            user = identity["password"]["user"]
            name, password, domain = user["name"], user["password"], user["domain"]["name"]
            scope = auth.get("scope", {}).get("project", {})
            if not isinstance(scope, Mapping):
                raise TypeError("scope.project")
        except (ValueError, KeyError, TypeError, AttributeError):
            return Denied(
                400,
                "IAM.0011",
                "Request body is invalid: expected auth.identity.password.user.{name,password,domain.name}",
            )
        creds = self.credentials
        if "password" not in identity.get("methods", []):
            return Denied(
                400, "IAM.0011", "Request body is invalid: auth.identity.methods must include 'password'"
            )
        ok = (
            creds.iam_user is not None
            and creds.iam_password is not None
            and creds.iam_domain is not None
            and hmac.compare_digest(str(name).encode(), creds.iam_user.encode())
            and hmac.compare_digest(str(password).encode(), creds.iam_password.encode())
            and hmac.compare_digest(str(domain).encode(), creds.iam_domain.encode())
        )
        if not ok:
            return Denied(401, "IAM.0004", "The username or password is wrong.")
        if "id" in scope and scope["id"] != creds.project_id:
            return Denied(401, "IAM.0005", f"The project {scope['id']!r} does not exist in this account.")
        token, expires_at = self.issue()
        issued = self.clock()
        answer = {
            "token": {
                "expires_at": _iso(expires_at),
                "issued_at": _iso(issued),
                "methods": ["password"],
                "user": {"name": name, "domain": {"name": domain}},
                "project": {"id": creds.project_id, "name": scope.get("name", creds.project_id)},
            }
        }
        return token, answer


def _iso(epoch: float) -> str:
    """ISO 8601 UTC with milliseconds and a ``Z``, as IAM writes ``expires_at``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
