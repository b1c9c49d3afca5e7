"""What every platform module shares: the wire encoding, fitting a payload to a byte budget, reading
answers, and the wording of one digest item before a platform marks it up.

Budgets are measured on the bytes actually sent (compact UTF-8 JSON), never estimated from ``len``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

from imagewatch import untrusted_json
from imagewatch.alerts.channels.result import SendResult
from imagewatch.alerts.digest import Digest, DigestItem, Fitted, fit, split
from imagewatch.alerts.text import clean
from imagewatch.retry import parse_retry_after
from imagewatch.violation import SEVERITY_ORDER

P = TypeVar("P")
# Item kinds as every platform tags them: alerts (new, reminder, overdue, resolved) and summary items (open).
TAGS = {"new": "NEW", "reminder": "STILL OPEN", "overdue": "OVERDUE", "resolved": "RESOLVED", "open": "OPEN"}
MAX_ANSWER_BYTES = 65536  # what delivery reads of an answer at most
MAX_PROBLEMS = 5  # problems and notes are said in every digest; a handful is enough, the report has all
# A local report's path (``report_line``): a line and a budget of its own, since a path cut is no path
REPORT_PATH_CHARS = 1024
REPORT_LINE_CHARS = REPORT_PATH_CHARS + len("report ")
JsonDict = dict[str, Any]


def encode(payload: object) -> bytes:
    """The request body: compact UTF-8 JSON, the same bytes every budget is measured on."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def size(payload: object) -> int:
    return len(encode(payload))


def fit_payload(
    items: Sequence[DigestItem],
    build: Callable[[Fitted], P],
    measure: Callable[[P], int],
    limit: int,
    cost: Callable[[DigestItem], int],
    max_items: int,
) -> P:
    """The payload showing the most items (worst first) whose ``measure`` stays within ``limit``.

    ``fit`` estimates from per-item costs; the built payload is then measured for real and, if the
    estimate was off, the largest fitting prefix is found by bisection — so the limit always holds.
    """
    empty = build(split(items, 0))
    budget = limit - measure(empty)
    estimate = len(fit(items, cost, budget, max_items).shown)
    payload = _build(items, estimate, build)
    if measure(payload) <= limit:
        return payload
    low, high = 0, estimate - 1  # invariant: low fits (0 items is the fixed skeleton)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(_build(items, middle, build)) <= limit:
            low = middle
        else:
            high = middle - 1
    return _build(items, low, build)


def _build(items: Sequence[DigestItem], count: int, build: Callable[[Fitted], P]) -> P:
    return build(split(items, count))


def worst_firing(digest: Digest) -> str | None:
    """The worst severity among new and still-open items; None when everything listed resolved."""
    firing = [item.severity for item in digest.items if item.kind != "resolved"]
    return min(firing, key=lambda sev: SEVERITY_ORDER.get(sev, 99)) if firing else None


def heading(item: DigestItem) -> str:
    """``NEW · CRITICAL`` — trusted words, safe in any markup."""
    return f"{TAGS.get(item.kind, item.kind.upper())} · {item.severity.upper()}"


def closing_line(digest: Digest, fitted: Fitted) -> str:
    """``…and 12 more (high 2, medium 10) · run r1 · 2026-…`` (the more line only when needed)."""
    parts = [fitted.more_line(), f"run {clean(digest.run_id, 80)} · {clean(digest.generated_at, 40)}"]
    return " · ".join(part for part in parts if part)


def report_line(digest: Digest) -> str:
    """``report /path/….html`` where a local run's report is (``local_report``), else "". Every
    platform shows it on a line of its own, clipped at ``REPORT_LINE_CHARS`` only: the closing line's
    budget would cut a long path."""
    local = local_report(digest.report_url)
    return f"report {clean(local, REPORT_PATH_CHARS)}" if local else ""


def local_report(url: str | None) -> str | None:
    """The file a ``file:`` report link names (a local run's report folder), to be shown as text: chat
    services neither open such links nor accept them as buttons (Discord refuses an embed whose url is
    not http(s)), and a path is what a person on that machine can open."""
    parts = urlsplit(url or "")
    if parts.scheme != "file" or not parts.path:
        return None
    return unquote(parts.path)


def safe_url(url: str | None) -> str | None:
    """An http(s) URL with the characters that could end a markdown link or tag percent-encoded."""
    if not url or urlsplit(url).scheme not in ("http", "https"):
        return None
    return quote(clean(url, 2000), safe=":/?&=%#+,;@!$'*~.-_")


def answer_json(body: bytes) -> JsonDict:
    """The answer as a JSON object, or ``{}`` when it is not one — whatever the bytes: a 60 KB run of
    ``[`` or an answer nested past ``untrusted_json.MAX_DEPTH`` is "not an object", never an exception
    that would end the run."""
    try:
        value = untrusted_json.decode(body[:MAX_ANSWER_BYTES].decode("utf-8", "replace"))
    except untrusted_json.UntrustedJsonError:
        return {}
    return value if isinstance(value, dict) else {}


def reason(text: object) -> str:
    """A platform's error message cut to its first clause (WeCom/DingTalk append IPs and links)."""
    return clean(re.split(r"[,;]", str(text or ""), maxsplit=1)[0], 80)


def transient(name: str, status: int, headers: dict[str, str], now: float, throttle_s: float) -> SendResult:
    """429 and 5xx: retry, after ``Retry-After`` when given (else ``throttle_s`` for a 429)."""
    after = parse_retry_after(headers.get("retry-after"), now)
    if status == 429 and after is None:
        after = throttle_s
    return SendResult(False, True, after, f"{name} HTTP {status}")


def is_transient(status: int) -> bool:
    return status == 429 or status >= 500


def judge_code(
    name: str,
    key: str,
    status: int,
    headers: dict[str, str],
    code: object,
    message: object,
    now: float,
    *,
    retry_codes: dict[int, str],
    permanent_codes: dict[int, str],
    throttle_s: float,
) -> SendResult:
    """The verdict of a platform that answers HTTP 200 even when it refuses (Feishu/Lark, DingTalk,
    WeCom): only ``code == 0`` is success; its "too fast" codes are retried after ``throttle_s``;
    any other code is final, named with the platform's reason (``key`` is how it names the code)."""
    if status == 200 and code == 0:
        return SendResult(ok=True)
    if is_transient(status):
        return transient(name, status, headers, now, throttle_s)
    if isinstance(code, int) and not isinstance(code, bool):
        known = reason(message) or retry_codes.get(code) or permanent_codes.get(code, "")
        detail = f"{name} {key} {code} {known}".strip()
        return SendResult(False, code in retry_codes, throttle_s if code in retry_codes else None, detail)
    return SendResult(
        False, False, None, f"{name} HTTP {status} without {'an' if key[0] in 'aeiou' else 'a'} {key}"
    )
