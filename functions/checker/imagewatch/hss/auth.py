"""Authentication to HSS as ``httpx.Auth`` flows: AK/SK signing, a ready token, an IAM password token.

Each flow works for sync and async clients alike (the generator does no I/O of its own). Secrets are
held in private attributes and never appear in ``repr`` or in any exception text.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Generator
from datetime import UTC, datetime

import httpx
from msgspec import Struct

from imagewatch import untrusted_json
from imagewatch.hss import signer
from imagewatch.hss.errors import HssApiError, HssTransportError, error_fields, redact

Clock = Callable[[], float]
TOKEN_REFRESH_MARGIN_S = 300.0  # renew a cached IAM token this long before its expires_at
EXPIRED_TOKEN_CODES = frozenset({"APIG.0301", "APIG.0307"})
# An IAM token answer is a few KB (a catalog adds ~100 KB); anything near this is not IAM.
MAX_TOKEN_ANSWER_BYTES = 4 * 1024 * 1024
MAX_ERROR_ANSWER_BYTES = 64 * 1024  # a 401 from HSS is read only for its error_code
TOKEN_DEADLINE_S = 30.0  # the whole IAM token request, however slowly its answer trickles
# httpx applies a client's timeouts only to requests it builds; a request an auth flow yields carries
# its own, or none at all (a silent IAM server would then hold the run forever).
TOKEN_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=10.0)


def _sdk_date(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime(signer.DATE_FORMAT)


def _host_header(request: httpx.Request) -> str:
    """The Host value the signature covers: the ``Host`` header as it goes on the wire.

    httpx sets it when the request is built, from the URL's ASCII netloc: ``[::1]:8443`` with the
    brackets, an IDN as punycode (``xn--r8jz45g.jp``). ``url.host`` is neither (``::1``, ``例え.jp``), and
    the gateway recomputes the signature over the header it received, so only the sent value verifies.
    """
    sent = request.headers.get("Host")
    if sent:
        return sent
    url = request.url
    host = url.raw_host.decode("ascii")
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{url.port}" if url.port else host


class AkSkAuth(httpx.Auth):
    """Signs each request with ``SDK-HMAC-SHA256`` (temporary credentials add ``X-Security-Token``)."""

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        *,
        project_id: str | None = None,
        security_token: str | None = None,
        clock: Clock = time.time,
    ) -> None:
        if not access_key or not secret_key:
            raise ValueError("AK/SK authentication needs both an access key and a secret key")
        self.access_key = access_key
        self._secret_key = secret_key
        self.project_id = project_id
        self._security_token = security_token
        self._clock = clock

    def secret_values(self) -> tuple[str, ...]:
        """What must never be shown, for error redaction."""
        return tuple(v for v in (self.access_key, self._secret_key, self._security_token) if v)

    def __repr__(self) -> str:
        temporary = ", temporary" if self._security_token else ""
        return f"AkSkAuth(access_key={self.access_key[:4]}…{temporary})"

    def sign(self, request: httpx.Request) -> None:
        """Set the date, project and token headers on ``request`` and sign it."""
        request.headers["X-Sdk-Date"] = _sdk_date(self._clock())
        request.headers.setdefault("Content-Type", "application/json")
        if self.project_id:
            request.headers["X-Project-Id"] = self.project_id
        if self._security_token:
            request.headers["X-Security-Token"] = self._security_token
        host = request.headers["Host"] = _host_header(request)
        signed = {
            "Host": host,
            **{name: request.headers[name] for name in _SIGNED if name in request.headers},
        }
        path, _, raw_query = request.url.raw_path.decode("ascii").partition("?")
        request.headers["Authorization"] = signer.authorization(
            self.access_key,
            self._secret_key,
            request.method,
            path,
            signer.split_query(raw_query),
            signed,
            request.content,
        )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request)
        yield request


# Headers we sign besides Host: those that carry meaning for the gateway (not transport headers a
# proxy may rewrite).
_SIGNED = ("Content-Type", "X-Sdk-Date", "X-Project-Id", "X-Security-Token")


class TokenAuth(httpx.Auth):
    """Sends a ready IAM token as ``X-Auth-Token``."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("token authentication needs a non-empty token")
        self._token = token

    def secret_values(self) -> tuple[str, ...]:
        return (self._token,)

    def __repr__(self) -> str:
        return "TokenAuth(token=***)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Auth-Token"] = self._token
        yield request


class IamScope(Struct, frozen=True):
    """The project a password token is scoped to: by id, or by name (a region id such as cn-north-4)."""

    project_id: str | None = None
    project_name: str | None = None

    def body(self) -> dict[str, object]:
        project = {"id": self.project_id} if self.project_id else {"name": self.project_name}
        return {"project": project}


class IamPasswordAuth(httpx.Auth):
    """Gets an IAM user token from ``/v3/auth/tokens``, caches it, and refreshes it once on a 401.

    The token is reused until ``TOKEN_REFRESH_MARGIN_S`` before its ``expires_at``. When HSS answers
    401 with ``APIG.0301``/``APIG.0307`` (revoked or expired early), a new token is fetched and the
    request is sent once more; a second 401 is returned to the caller as is.
    """

    requires_response_body = True

    def __init__(
        self,
        iam_endpoint: str,
        user: str,
        password: str,
        domain: str,
        scope: IamScope,
        *,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
        token_deadline_s: float = TOKEN_DEADLINE_S,
    ) -> None:
        """``token_deadline_s`` bounds one IAM token request end to end on ``monotonic``: httpx's
        timeouts are per read, so an answer trickled a byte at a time would otherwise never time out."""
        if not (user and password and domain):
            raise ValueError("IAM password authentication needs a user, a password and a domain")
        self.iam_endpoint = iam_endpoint.rstrip("/")
        self.user = user
        self._password = password
        self.domain = domain
        self.scope = scope
        self._clock = clock
        self._monotonic = monotonic
        self.token_deadline_s = token_deadline_s
        self._lock = threading.Lock()
        self._fetching = threading.Lock()  # held across one IAM token request (sync clients)
        self._token: str | None = None
        self._expires_at = 0.0
        self.tokens_fetched = 0

    def secret_values(self) -> tuple[str, ...]:
        return tuple(v for v in (self._password, self._token) if v)

    def __repr__(self) -> str:
        return f"IamPasswordAuth(user={self.user!r}, domain={self.domain!r}, endpoint={self.iam_endpoint!r})"

    def _token_request(self) -> httpx.Request:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": self.user,
                            "password": self._password,
                            "domain": {"name": self.domain},
                        }
                    },
                },
                "scope": self.scope.body(),
            }
        }
        read = min(TOKEN_TIMEOUT.read or self.token_deadline_s, self.token_deadline_s)
        return httpx.Request(
            "POST",
            f"{self.iam_endpoint}/v3/auth/tokens",
            content=json.dumps(body).encode(),
            headers={"Content-Type": "application/json;charset=utf8"},
            extensions={"timeout": {**TOKEN_TIMEOUT.as_dict(), "read": read}},
        )

    def _accept_token(self, response: httpx.Response, started: float) -> str:
        """The token from IAM's answer; any answer that is not a readable 201 is a typed error."""
        _read_bounded(response, MAX_TOKEN_ANSWER_BYTES, self._monotonic, started + self.token_deadline_s)
        if response.status_code != 201 or not response.headers.get("X-Subject-Token"):
            code, msg = _error_fields(response)
            raise HssApiError(
                response.status_code,
                code,
                redact(msg, self.secret_values()) or "IAM token request failed",
                response.headers.get("X-Request-Id"),
            )
        try:
            expires_at = untrusted_json.decode(response.content)["token"]["expires_at"]
            expires = datetime.fromisoformat(expires_at.replace("Z", "+00:00")).timestamp()
        except untrusted_json.UntrustedJsonError as exc:
            raise HssTransportError(f"IAM token answer is unreadable: {exc}") from None
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            raise HssTransportError(
                f"IAM token answer has no readable token.expires_at ({type(exc).__name__})"
            ) from None
        with self._lock:
            self._token = response.headers["X-Subject-Token"]
            self._expires_at = expires
            self.tokens_fetched += 1
            return self._token

    def _cached(self) -> str | None:
        with self._lock:
            if self._token and self._clock() < self._expires_at - TOKEN_REFRESH_MARGIN_S:
                return self._token
            return None

    def _invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """The flow as async clients run it (one event loop: no two flows fetch at the same moment)."""
        return self._flow(request, self._fetch_token)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """The flow as ``httpx.Client`` runs it, possibly in several threads at once (concurrent pages):
        one thread fetches a token while the others wait for it, so an expired token is replaced once,
        not once per page in flight. Reads response bodies, as ``requires_response_body`` asks."""
        flow = self._flow(request, self._fetch_token_once)
        request = next(flow)
        while True:
            response = yield request
            if response.status_code == 401:  # only its error_code matters; a page is left to the client
                _read_bounded(response, MAX_ERROR_ANSWER_BYTES, self._monotonic, None)
            try:
                request = flow.send(response)
            except StopIteration:
                return

    def _flow(self, request: httpx.Request, fetch: _Fetch) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._cached()
        if token is None:
            token = yield from fetch(None)
        request.headers["X-Auth-Token"] = token
        response = yield request
        if response.status_code == 401 and _error_fields(response)[0] in EXPIRED_TOKEN_CODES:
            token = yield from fetch(token)
            request.headers["X-Auth-Token"] = token
            yield request

    def _fetch_token(self, stale: str | None) -> Generator[httpx.Request, httpx.Response, str]:
        """A new token from IAM (``stale``: the one HSS just refused)."""
        if stale is not None:
            self._invalidate(stale)
        started = self._monotonic()
        return self._accept_token((yield self._token_request()), started)

    def _fetch_token_once(self, stale: str | None) -> Generator[httpx.Request, httpx.Response, str]:
        """``_fetch_token``, one thread at a time: a thread that waited uses the token just fetched."""
        with self._fetching:
            token = self._cached()
            if token is not None and token != stale:
                return token
            return (yield from self._fetch_token(stale))


_Fetch = Callable[[str | None], Generator[httpx.Request, httpx.Response, str]]


def _error_fields(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        return error_fields(untrusted_json.decode(response.content))
    except untrusted_json.UntrustedJsonError:
        return None, None


def _read_bounded(response: httpx.Response, cap: int, monotonic: Clock, deadline: float | None) -> None:
    """Read ``response``'s body, refusing one over ``cap`` bytes or still arriving after ``deadline``.

    The body is kept as the response's content (httpx reads a response again once the flow moves on,
    and a consumed stream cannot be read twice). Already-read answers (async clients) pass through.
    """
    if hasattr(response, "_content"):
        body = response.content
    else:
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > cap:
                    raise HssTransportError(f"IAM/HSS answer larger than {cap} bytes; refusing to read it")
                if deadline is not None and monotonic() > deadline:
                    raise HssTransportError("IAM token answer still arriving at its deadline; gave up")
                chunks.append(chunk)
        except httpx.TransportError as exc:
            raise HssTransportError(f"IAM/HSS answer was cut off ({type(exc).__name__})") from None
        except BaseException:
            response.close()
            raise
        body = b"".join(chunks)
        response._content = body  # what httpx's own read() stores
    if len(body) > cap:
        raise HssTransportError(f"IAM/HSS answer larger than {cap} bytes; refusing to read it")
