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
from msgspec import Struct, structs

from imagewatch import __version__
from imagewatch.alerts.channels import SendResult
from imagewatch.alerts.ledger import ChannelRule
from imagewatch.retry import RetryPolicy

MAX_ANSWER_BYTES = 64 * 1024
MAX_IN_RUN_WAIT_S = 15.0  # a platform asking for longer (DingTalk/WeCom: a minute) gets it from the next run
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)


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
    """Posts payloads; retries what the platform calls temporary, within ``retry``.

    Paces posts to one webhook URL at least the platform's ``MIN_INTERVAL_S`` apart (retries
    included), so a run never exceeds the platform's rate limit. A "too fast" answer that asks for a
    longer wait than ``MAX_IN_RUN_WAIT_S`` ends this run's attempts: the alerts stay due and go next run.
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy(max_attempts=3, base_s=1.0, cap_s=10.0, throttle_floor_s=1.0)
        self._sleep = sleep
        self._clock = clock
        self._rng = random.Random()  # noqa: S311 - jitter
        self._last_post: dict[str, float] = {}  # webhook URL -> when we last posted to it
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            verify=True,
            follow_redirects=False,
            headers={"User-Agent": f"imagewatch/{__version__}"},
        )

    def close(self) -> None:
        self._http.close()

    def send(self, channel: Channel, payload: dict[str, object]) -> Outcome:
        """Post until the platform says yes, refuses for good, or the attempts run out. The outcome's
        detail never carries the webhook URL, its token or the signing secret, even when the
        platform's answer echoes them."""
        outcome = self._send(channel, payload)
        return structs.replace(outcome, detail=scrub(outcome.detail, *secret_parts(channel)))

    def _send(self, channel: Channel, payload: dict[str, object]) -> Outcome:
        attempt = 0
        while True:
            attempt += 1
            self._pace(channel)
            url, headers, body = channel.platform.prepare(channel.url, payload, channel.secret, self._clock())
            result = self._post(channel, url, headers, body)
            if result.ok:
                detail = f"delivered; {result.detail}" if result.detail else "delivered"
                return Outcome(channel.name, channel.platform_name, True, attempt, detail)
            if not result.retryable or attempt >= self.retry.max_attempts:
                return Outcome(channel.name, channel.platform_name, False, attempt, scrub(result.detail, url))
            if result.retry_after is not None and result.retry_after > MAX_IN_RUN_WAIT_S:
                detail = f"{result.detail}; asked to wait {result.retry_after:g} s: left for the next run"
                return Outcome(channel.name, channel.platform_name, False, attempt, scrub(detail, url))
            status = 429 if result.retry_after is not None else None
            self._sleep(
                self.retry.delay(attempt, status=status, retry_after=result.retry_after, rng=self._rng)
            )

    def _pace(self, channel: Channel) -> None:
        interval = float(getattr(channel.platform, "MIN_INTERVAL_S", 0.0))
        last = self._last_post.get(channel.url)
        if last is not None and interval > 0:
            wait = last + interval - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_post[channel.url] = self._clock()

    def _post(self, channel: Channel, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        try:
            with self._http.stream("POST", url, headers=headers, content=body) as response:
                answer = b""
                for chunk in response.iter_bytes():
                    answer += chunk
                    if len(answer) >= MAX_ANSWER_BYTES:
                        break
                answer_headers = {k.lower(): v for k, v in response.headers.items()}
                answer = scrub_answer(answer, url, *secret_parts(channel))  # before any module clips it
                return channel.platform.judge(response.status_code, answer_headers, answer, self._clock())
        except httpx.TimeoutException as exc:
            return SendResult(False, True, None, f"timeout ({exc.__class__.__name__})")
        except httpx.TransportError as exc:
            return SendResult(False, True, None, scrub(f"{exc.__class__.__name__}: {exc}", url, channel.url))


def scrub(text: str, *urls: str | None) -> str:
    """``text`` with any webhook URL (or secret part of one) replaced, so errors can be shown safely."""
    for url in sorted({u for u in urls if u}, key=len, reverse=True):  # a URL before its parts
        for form in (url, quote(url, safe="")):
            text = text.replace(form, "<webhook>")
    return text[:300]


def scrub_answer(answer: bytes, *pieces: str) -> bytes:
    """A platform's answer with every echo of ``pieces`` replaced — raw, percent-encoded, or with JSON's
    escaped slashes — so no platform module can quote (or clip) a secret into an outcome."""
    for piece in sorted({p for p in pieces if p}, key=len, reverse=True):
        for form in {piece, quote(piece, safe=""), piece.replace("/", "\\/")}:
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
