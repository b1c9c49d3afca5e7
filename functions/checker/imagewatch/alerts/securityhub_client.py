"""The findings port's AWS adapter: ``BatchImportFindings`` through boto3, loaded only when
``SECURITY_HUB=on``.

Each request is bounded: botocore makes one attempt (``BOTOCORE_RETRIES``) with a short connect and read
timeout, so one call takes at most ``call_s`` and the walk starts none it cannot finish. Retrying is
done here, where each answer is seen: a throttled batch (``TooManyRequestsException``,
``LimitExceededException``, ``ThrottlingException``: the API allows 10 calls a second, bursts of 30)
and a transient failure (a 5xx, no answer in time, a connection closed mid-answer) are tried again,
``ROUNDS`` tries in all, with backoff — each only if it still fits in the time the walk gave.

What a failure means for the ledger is decided here too (``ImportFailed.maybe_imported``): a refusal
before processing — a 4xx, a request that never left (the endpoint unreachable, botocore's own
validation) — imported nothing, so the walk puts the marks back; anything else — a 5xx, no answer,
an answer that does not account for every finding, any try of the batch that was ambiguous — may
have imported the batch, so the marks stay and a violation that resolves meanwhile is still archived.

Where findings go is the caller's own account and region: ``BatchImportFindings`` imports findings
of the calling account only, so the account comes from the caller's identity (STS
``GetCallerIdentity``, which needs no permission) and can never disagree with it; the region is the
client's (``AWS_REGION``, which Lambda sets). Errors name the region, the product and what to do;
they never carry a credential (botocore's messages hold none, and they are clipped and cleaned).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import Any

from imagewatch.alerts.channels.securityhub import Hub
from imagewatch.alerts.findings_delivery import ImportFailed, Refusal
from imagewatch.alerts.text import clean
from imagewatch.retry import RetryPolicy

THROTTLED = frozenset({"TooManyRequestsException", "LimitExceededException", "ThrottlingException"})
# FailedFindings' ErrorCode for a hub that is off or a provider not enabled (AWS: "the findings are
# returned in the FailedFindings list, with an InvalidAccess error"); the exception's name, in case
NOT_ENABLED = frozenset({"InvalidAccess", "InvalidAccessException"})
DENIED = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
ROUNDS = 3  # tries of one batch, throttled or failed transiently, each a single botocore attempt
BOTOCORE_RETRIES = 0  # retrying is ours, so every try's outcome is seen (and the time it may take)
CONNECT_S = 5.0
READ_S = 10.0  # Security Hub answers an import in well under a second
MESSAGE_CHARS = 200
_ACCOUNT = re.compile(r"^[0-9]{12}$")
CLIENT_CONFIG: dict[str, Any] = {
    "retries": BOTOCORE_RETRIES,
    "connect_timeout": CONNECT_S,
    "read_timeout": READ_S,
}


def worst_case_s(client: Any) -> float:
    """The longest one call through ``client`` may take: every botocore attempt timing out (connect
    and read), plus its backoff between attempts (standard mode: at most 2**n s, capped at 20)."""
    config = client.meta.config
    retries = getattr(config, "retries", None) or {}
    attempts = retries.get("total_max_attempts") or (retries.get("max_attempts", 4) + 1)
    connect = float(getattr(config, "connect_timeout", None) or 60)
    read = float(getattr(config, "read_timeout", None) or 60)
    backoff = sum(min(2.0**n, 20.0) for n in range(int(attempts) - 1))
    return int(attempts) * (connect + read) + backoff


class SecurityHubClient:
    """``FindingsPort`` over boto3 clients for Security Hub and STS (``from_environment`` builds them
    as every AWS port does; tests pass their own, pointed at moto or a loopback stand-in)."""

    def __init__(
        self,
        client: Any,
        sts: Any,
        *,
        retry: RetryPolicy | None = None,
        rounds: int = ROUNDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client, self._sts = client, sts
        self._retry = retry or RetryPolicy(max_attempts=rounds, base_s=1.0, cap_s=8.0, throttle_floor_s=1.0)
        self._rounds = max(1, rounds)
        self._sleep, self._clock = sleep, clock
        self._rng = random.Random()  # noqa: S311 - jitter
        self._hub: Hub | None = None
        self.calls = 0
        self.call_s = worst_case_s(client)  # the walk starts no call it cannot finish

    @classmethod
    def from_environment(cls) -> SecurityHubClient:
        """Clients for the function's region (``SettingsError`` when none is configured)."""
        from botocore.exceptions import NoRegionError

        from imagewatch import aws

        try:
            return cls(aws.client("securityhub", **CLIENT_CONFIG), aws.client("sts", **CLIENT_CONFIG))
        except NoRegionError:
            from imagewatch.settings import SettingsError

            raise SettingsError(
                "SECURITY_HUB",
                "on",
                "an AWS region to import findings into: AWS_REGION or AWS_DEFAULT_REGION (Lambda sets it)",
            ) from None

    def hub(self) -> Hub:
        """The caller's account (STS, once) in the client's region and partition."""
        if self._hub is None:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                account = str(self._sts.get_caller_identity().get("Account", ""))
            except ClientError as exc:
                code, message = _error(exc)
                said = f"could not tell which AWS account to import into (STS GetCallerIdentity: {code}"
                raise ImportFailed(f"{said}: {message})", stop=True) from None
            except BotoCoreError as exc:
                raise ImportFailed(
                    f"could not tell which AWS account to import into: {_described(exc)}", stop=True
                ) from None
            if not _ACCOUNT.match(account):
                raise ImportFailed(f"STS named no 12-digit account ({clean(account, 40)!r})", stop=True)
            meta = self._client.meta
            self._hub = Hub(account, meta.region_name, getattr(meta, "partition", None) or "aws")
        return self._hub

    def check_enabled(self) -> Hub:
        """For ``imagewatch doctor``: the hub findings would go to, once ``DescribeHub`` answers there.
        Raises ``ImportFailed``: ``unavailable`` when Security Hub is not enabled there; otherwise the
        question could not be answered (the caller may not ask, the network)."""
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.exceptions import ConnectionError as Unreachable

        hub = self.hub()
        try:
            self._client.describe_hub()
        except ClientError as exc:
            code, message = _error(exc)
            if code == "InvalidAccessException":
                raise self._failure(code, message, 1, False) from None
            raise ImportFailed(f"DescribeHub: {code}: {message}", stop=True) from None
        except Unreachable as exc:
            raise ImportFailed(f"Security Hub could not be reached: {_described(exc)}", stop=True) from None
        except BotoCoreError as exc:
            raise ImportFailed(f"DescribeHub failed: {_described(exc)}", stop=True) from None
        return hub

    def import_findings(
        self, findings: list[dict[str, Any]], *, within_s: float | None = None
    ) -> list[Refusal]:
        """One batch (tried again while throttled or failing transiently, as long as another try fits
        in ``within_s``); the findings the service refused."""
        from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, ParamValidationError
        from botocore.exceptions import ConnectionError as Unreachable

        started = self._clock()
        maybe = False  # a try of this batch may have been imported
        for round_ in range(1, self._rounds + 1):
            self.calls += 1
            try:
                answer = self._client.batch_import_findings(Findings=findings)
            except ClientError as exc:
                code, message = _error(exc)
                status = (
                    (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
                )
                failed = not isinstance(status, int) or status >= 500  # not a refusal before processing
                maybe = maybe or failed
                if (code in THROTTLED or failed) and self._another(round_, started, within_s, status):
                    continue
                raise self._failure(code, message, round_, maybe) from None
            except ParamValidationError as exc:  # botocore refused it before sending: one bad finding
                said = f"not valid ASFF: {_described(exc)}"
                raise ImportFailed(
                    f"a finding was {said}", stop=False, split=True, maybe_imported=maybe, detail=said
                ) from None
            except Unreachable as exc:  # no connection: this try sent nothing
                if self._another(round_, started, within_s, None):
                    continue
                raise ImportFailed(
                    f"Security Hub could not be reached: {_described(exc)}", stop=True, maybe_imported=maybe
                ) from None
            except HTTPClientError as exc:  # sent, then no answer (a timeout, the connection closed)
                maybe = True
                if self._another(round_, started, within_s, None):
                    continue
                raise ImportFailed(
                    f"no answer from Security Hub ({_described(exc)}): the batch may have been imported; "
                    "it is sent again next run",
                    stop=True,
                ) from None
            except BotoCoreError as exc:  # credentials, configuration: nothing was sent, nothing will be
                raise ImportFailed(
                    f"Security Hub was not called: {_described(exc)}", stop=True, maybe_imported=maybe
                ) from None
            return self._refusals(answer, findings)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _another(self, round_: int, started: float, within_s: float | None, status: int | None) -> bool:
        """Wait and try again, if a try is left and it (with the wait) fits in ``within_s``."""
        if round_ >= self._rounds:
            return False
        wait = self._retry.delay(
            round_, status=429 if status == 429 else None, retry_after=None, rng=self._rng
        )
        if within_s is not None and self._clock() - started + wait + self.call_s > within_s:
            return False
        self._sleep(wait)
        return True

    def _refusals(self, answer: Any, findings: list[dict[str, Any]]) -> list[Refusal]:
        """The answer's refusals; every finding refused as not enabled is the hub unavailable."""
        refused = refusals(answer, findings)
        if refused and len(refused) == len(findings) and all(r.code in NOT_ENABLED for r in refused):
            raise self._failure(refused[0].code, refused[0].message, 1, False)
        return refused

    def _failure(self, code: str, message: str, rounds: int, maybe: bool) -> ImportFailed:
        hub = self._hub
        where = f"in {hub.region} (account {hub.account})" if hub else "in this region"
        said = f"{code}: {message}" if message else code
        tries = f"{rounds} tr{'y' if rounds == 1 else 'ies'}"
        if code in NOT_ENABLED:
            return ImportFailed(
                f"Security Hub is not enabled {where} ({said}): enable it or set SECURITY_HUB=off",
                stop=True,
                unavailable=True,
                maybe_imported=maybe,
            )
        if code in DENIED:
            product = hub.product_arn if hub else "the account's default product"
            return ImportFailed(
                f"the function's role may not import findings {where} ({said}): allow "
                f"securityhub:BatchImportFindings on {product}, or set SECURITY_HUB=off",
                stop=True,
                unavailable=True,
                maybe_imported=maybe,
            )
        if code in THROTTLED:
            return ImportFailed(
                f"throttled ({code}) after {tries}: left for the next run",
                stop=True,
                maybe_imported=maybe,
            )
        if code == "InvalidInputException":  # the batch refused whole: the walk splits it
            return ImportFailed(
                f"Security Hub refused the batch ({said})",
                stop=False,
                split=True,
                maybe_imported=maybe,
                detail=said,
            )
        if maybe:
            return ImportFailed(
                f"Security Hub failed ({said}) after {tries}: the batch may have been imported; "
                "it is sent again next run",
                stop=True,
            )
        return ImportFailed(f"import failed ({said})", stop=True, maybe_imported=False)


def refusals(answer: Any, findings: list[dict[str, Any]]) -> list[Refusal]:
    """The refused findings of one answer, once it accounts for every finding sent: its counts add up
    to the batch and name each refused finding. Otherwise nothing of the batch is confirmed."""
    sent = {finding["Id"] for finding in findings}
    failed = answer.get("FailedFindings") if isinstance(answer, dict) else None
    refused: dict[str, Refusal] = {}
    for item in failed if isinstance(failed, list) else []:
        if isinstance(item, dict) and item.get("Id") in sent:
            refused[item["Id"]] = Refusal(
                item["Id"],
                clean(item.get("ErrorCode") or "?", 80),
                clean(item.get("ErrorMessage") or "", MESSAGE_CHARS),
            )
    success = answer.get("SuccessCount") if isinstance(answer, dict) else None
    failures = answer.get("FailedCount") if isinstance(answer, dict) else None
    counted = isinstance(success, int) and isinstance(failures, int)
    if not counted or failures != len(refused) or success + failures != len(sent):  # type: ignore[operator]
        raise ImportFailed(
            f"Security Hub's answer does not account for every finding (SuccessCount {success!r}, "
            f"FailedCount {failures!r}, {len(refused)} named, {len(sent)} sent): none counts as imported, "
            "all may have been (sent again next run)",
            stop=False,
        )
    return list(refused.values())


def _error(exc: Any) -> tuple[str, str]:
    error = (getattr(exc, "response", None) or {}).get("Error", {}) or {}
    return clean(error.get("Code") or "?", 80), clean(error.get("Message") or "", MESSAGE_CHARS)


def _described(exc: BaseException) -> str:
    text = clean(str(exc), MESSAGE_CHARS)
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__
