"""Sending a rendered digest to a channel: timeouts, bounded retries, the platform's own verdict.

Nothing here decides *what* to send (the ledger does) or *how it looks* (the platform module does).
The webhook URL is a secret: it never appears in an outcome, a log line or an exception.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from types import ModuleType
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
from msgspec import Struct, field

from imagewatch import __version__, http_deadline
from imagewatch.alerts.channels import SendResult
from imagewatch.alerts.ledger import ChannelRule
from imagewatch.retry import RetryPolicy

MAX_ANSWER_BYTES = 64 * 1024
MAX_IN_RUN_WAIT_S = 15.0  # a platform asking for longer (DingTalk/WeCom: a minute) gets it from the next run
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)
ATTEMPT_DEADLINE_S = 20.0  # one attempt, connect to last byte; every platform answers within a second or two
SEND_DEADLINE_S = 45.0  # every attempt and wait of one send: a stuck channel cannot eat the run's time
DETAIL_CHARS = 300
DELIVERY_LIMITS = httpx.Limits(max_connections=10, max_keepalive_connections=5)  # one send at a time


class Channel(Struct, frozen=True):
    """A configured chat destination. ``url`` and ``secret`` are secrets and stay out of ``repr``."""

    name: str
    platform: ModuleType
    url: str
    rule: ChannelRule
    secret: str | None = None
    mentions: tuple[str, ...] = ()

    @property
    def platform_name(self) -> str:
        return str(self.platform.NAME)

    def __repr__(self) -> str:
        """Without the URL and signing secret."""
        shown = f"name={self.name!r}, platform={self.platform_name!r}, rule={self.rule!r}"
        return f"Channel({shown}, mentions={self.mentions!r})"


class Outcome(Struct, frozen=True):
    """What happened when a channel was sent one digest."""

    channel: str
    platform: str
    ok: bool
    attempts: int
    detail: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "channel": self.channel,
            "platform": self.platform,
            "ok": self.ok,
            "attempts": self.attempts,
            "detail": self.detail,
        }


class Deliverer:
    """Posts payloads; retries what the platform calls temporary, within ``retry`` and the deadlines.

    Paces posts to one webhook URL at least the platform's ``MIN_INTERVAL_S`` apart (retries
    included), so a run never exceeds the platform's rate limit. A "too fast" answer that asks for a
    longer wait than ``MAX_IN_RUN_WAIT_S`` ends this run's attempts: the alerts stay due and go next run.

    httpx's timeouts bound each network operation, not a whole answer: a peer trickling one byte a
    second never trips them. So every attempt also has a total deadline (``attempt_deadline_s``, from
    connecting to the last byte read) and the whole send one more (``send_deadline_s``, attempts, pacing
    and retry waits together). The default transport bounds every socket operation by the attempt's
    deadline (``http_deadline``); with any transport, httpx's timeouts are cut to the time left and the
    body loop checks ``monotonic`` after each read. ``send`` never raises: whatever goes wrong with
    one channel becomes that channel's failed ``Outcome``, so the next channel is still sent.
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        attempt_deadline_s: float = ATTEMPT_DEADLINE_S,
        send_deadline_s: float = SEND_DEADLINE_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.retry = retry or RetryPolicy(max_attempts=3, base_s=1.0, cap_s=10.0, throttle_floor_s=1.0)
        self.timeout = timeout
        self.attempt_deadline_s = attempt_deadline_s
        self.send_deadline_s = send_deadline_s
        self._sleep = sleep
        self._clock = clock
        self._monotonic = monotonic
        self._rng = random.Random()  # noqa: S311 - jitter
        self._last_post: dict[str, float] = {}  # webhook URL -> when we last posted to it
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport or http_deadline.transport(DELIVERY_LIMITS),
            verify=True,
            follow_redirects=False,
            headers={"User-Agent": f"imagewatch/{__version__}"},
        )

    def close(self) -> None:
        self._http.close()

    def send(self, channel: Channel, payload: dict[str, object]) -> Outcome:
        """Post until the platform says yes, refuses for good, or the attempts or deadline run out. Never
        raises; the outcome's detail never carries the webhook URL, its token or the signing secret,
        even when the platform's answer or an exception echoes them."""
        tried = _Tried()
        try:
            ok, detail = self._send(channel, payload, tried)
        except Exception as exc:  # one channel's failure must never stop the others
            ok, detail = False, f"delivery failed unexpectedly: {_described(exc)}"
        secrets = [*tried.urls, *secret_parts(channel)]
        return Outcome(channel.name, channel.platform_name, ok, tried.attempts, scrub(detail, *secrets))

    def _send(self, channel: Channel, payload: dict[str, object], tried: _Tried) -> tuple[bool, str]:
        """(delivered?, raw detail): the caller scrubs the detail once, then clips it."""
        send_deadline = self._monotonic() + self.send_deadline_s
        while True:
            self._pace(channel)
            remaining = send_deadline - self._monotonic()
            if remaining <= 0:
                return False, f"send deadline of {self.send_deadline_s:g} s passed: left for the next run"
            tried.attempts += 1
            try:
                url, headers, body = channel.platform.prepare(
                    channel.url, payload, channel.secret, self._clock()
                )
            except Exception as exc:  # a platform module's bug fails this channel only
                return False, f"{channel.platform_name} could not prepare the request: {_described(exc)}"
            tried.urls.append(url)
            attempt_s = min(self.attempt_deadline_s, remaining)
            result = self._post(channel, url, headers, body, attempt_s)
            if result.ok:
                return True, f"delivered; {result.detail}" if result.detail else "delivered"
            if not result.retryable or tried.attempts >= self.retry.max_attempts:
                return False, result.detail
            if result.retry_after is not None and result.retry_after > MAX_IN_RUN_WAIT_S:
                return (
                    False,
                    f"{result.detail}; asked to wait {result.retry_after:g} s: left for the next run",
                )
            status = 429 if result.retry_after is not None else None
            delay = self.retry.delay(
                tried.attempts, status=status, retry_after=result.retry_after, rng=self._rng
            )
            if self._monotonic() + delay >= send_deadline:
                detail = f"{result.detail}; send deadline of {self.send_deadline_s:g} s reached"
                return False, f"{detail}: left for the next run"
            self._sleep(delay)

    def _pace(self, channel: Channel) -> None:
        interval = float(getattr(channel.platform, "MIN_INTERVAL_S", 0.0))
        last = self._last_post.get(channel.url)
        if last is not None and interval > 0:
            wait = last + interval - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_post[channel.url] = self._clock()

    def _post(
        self, channel: Channel, url: str, headers: dict[str, str], body: bytes, attempt_s: float
    ) -> SendResult:
        """One attempt, over by ``attempt_s``: every httpx timeout is at most that (so an answer whose
        headers never come ends in time too), and the body loop checks the deadline after each read."""
        deadline = self._monotonic() + attempt_s
        configured = self.timeout.as_dict()
        bounded = {
            kind: min(_seconds(configured[kind]), attempt_s) for kind in ("connect", "read", "write", "pool")
        }
        timeout = httpx.Timeout(**bounded)
        late = f"deadline: no complete answer within {attempt_s:.3g} s"
        try:  # ``within``: even headers trickled a byte at a time end at the deadline (default transport)
            with (
                http_deadline.within(time.monotonic() + attempt_s),
                self._http.stream("POST", url, headers=headers, content=body, timeout=timeout) as response,
            ):
                answer = b""
                for chunk in response.iter_bytes():
                    answer += chunk
                    if len(answer) >= MAX_ANSWER_BYTES:
                        break
                    if self._monotonic() >= deadline:
                        return SendResult(False, True, None, f"{late} (the answer trickled)")
                answer_headers = {k.lower(): v for k, v in response.headers.items()}
        except httpx.TimeoutException as exc:
            kind = _TIMEOUT_KINDS.get(type(exc), "read")
            if bounded[kind] < _seconds(configured[kind]):  # the deadline, not httpx's own limit, ran out
                return SendResult(False, True, None, f"{late} ({exc.__class__.__name__})")
            return SendResult(False, True, None, f"timeout ({exc.__class__.__name__})")
        except httpx.HTTPError as exc:  # transport errors, and answers httpx cannot decode
            return SendResult(False, True, None, _described(exc))
        answer = scrub_answer(answer, url, *secret_parts(channel))  # before any module clips it
        try:
            return channel.platform.judge(response.status_code, answer_headers, answer, self._clock())
        except Exception as exc:  # an answer a module cannot read fails this send only
            return SendResult(
                False, False, None, f"{channel.platform_name} answer not understood: {_described(exc)}"
            )


class _Tried(Struct):
    """What one send got to before it ended: attempts, and the URLs it posted to (signing adds query
    parameters, so each attempt's URL is a secret of its own)."""

    attempts: int = 0
    urls: list[str] = field(default_factory=list)


_TIMEOUT_KINDS = {
    httpx.ConnectTimeout: "connect",
    httpx.ReadTimeout: "read",
    httpx.WriteTimeout: "write",
    httpx.PoolTimeout: "pool",
}


def _seconds(value: float | None) -> float:
    return float("inf") if value is None else float(value)


def _described(exc: BaseException) -> str:
    """``ConnectError: …``: the exception's class and text (scrubbed by ``send`` before anyone sees it)."""
    text = str(exc)
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def _forms(piece: str) -> set[str]:
    """The ways a secret shows up in text: raw, percent-encoded (fully, or keeping ``/``), and with
    JSON's escaped slashes."""
    return {piece, quote(piece, safe=""), quote(piece), piece.replace("/", "\\/")}


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` with every secret (a webhook URL, or a secret part of one) replaced, then clipped to
    ``DETAIL_CHARS`` — in that order, so a clip can never leave part of a secret behind."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):  # a URL before its parts
        for form in sorted(_forms(secret), key=len, reverse=True):
            text = text.replace(form, "<webhook>")
    return text[:DETAIL_CHARS]


def scrub_answer(answer: bytes, *pieces: str) -> bytes:
    """A platform's answer with every echo of ``pieces`` replaced — raw, percent-encoded, or with JSON's
    escaped slashes — so no platform module can quote (or clip) a secret into an outcome."""
    for piece in sorted({p for p in pieces if p}, key=len, reverse=True):
        for form in sorted(_forms(piece), key=len, reverse=True):
            answer = answer.replace(form.encode(), b"<webhook>")
    return answer


MIN_TOKEN_CHARS = 12  # shorter path segments are words ("services", "hooks"), not tokens
MIN_SECRET_CHARS = 8  # a shorter value would be replaced inside ordinary words and protects nothing


def secret_parts(channel: Channel) -> list[str]:
    """What a platform's answer must never bring into an outcome: the webhook URL, the values of its
    query (``key``, ``access_token``, ``sig``, ``token``…), its token-like path segments, and the signing
    secret. Platform answers are untrusted text; some echo the request."""
    parts = urlsplit(channel.url)
    pieces = [channel.url, channel.secret or ""]
    pieces += [value for _, value in parse_qsl(parts.query)]
    pieces += [segment for segment in parts.path.split("/") if len(segment) >= MIN_TOKEN_CHARS]
    return [piece for piece in pieces if len(piece) >= MIN_SECRET_CHARS]
