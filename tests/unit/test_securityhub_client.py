"""The Security Hub adapter on its own: which account and region it imports into, how each error
reads and whether it stops the walk, and that an answer must account for every finding (botocore's
Stubber answers; no network)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from imagewatch.alerts.channels.securityhub import Hub, finding
from imagewatch.alerts.findings_delivery import ImportFailed, Refusal
from imagewatch.alerts.ledger import LedgerEntry
from imagewatch.alerts.securityhub_client import SecurityHubClient, refusals

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
HUB = Hub("111122223333", "cn-north-1", "aws-cn")


def entry(n: int) -> LedgerEntry:
    return LedgerEntry(f"{n:020d}", "p", f"img{n}", "high", f"img{n}:1", "broken", "open", 1, 2)


FINDINGS = [finding(entry(n), None, hub=HUB, target="t", title="P", now_ms=3) for n in range(3)]
IDS = [f["Id"] for f in FINDINGS]


@pytest.fixture
def stubs() -> Iterator[tuple[SecurityHubClient, Stubber, Stubber, list[float]]]:
    hub = boto3.client("securityhub", region_name="cn-north-1", **CREDENTIALS)
    sts = boto3.client("sts", region_name="cn-north-1", **CREDENTIALS)
    sleeps: list[float] = []
    with Stubber(hub) as hub_stub, Stubber(sts) as sts_stub:
        yield SecurityHubClient(hub, sts, sleep=sleeps.append), hub_stub, sts_stub, sleeps


def caller(stub: Stubber, account: str = "111122223333") -> None:
    arn = f"arn:aws-cn:iam::{account}:role/imagewatch"
    stub.add_response("get_caller_identity", {"Account": account, "Arn": arn, "UserId": "AROAEXAMPLE"})


def test_the_account_is_the_callers_and_the_region_and_partition_the_clients(stubs: Any) -> None:
    client, _, sts, _ = stubs
    caller(sts)
    assert client.hub() == HUB
    assert (
        client.hub().product_arn
        == "arn:aws-cn:securityhub:cn-north-1:111122223333:product/111122223333/default"
    )
    sts.assert_no_pending_responses()  # asked once


def test_an_account_sts_cannot_name_stops_the_walk(stubs: Any) -> None:
    client, _, sts, _ = stubs
    sts.add_client_error("get_caller_identity", "ExpiredToken", "The security token included is expired")
    with pytest.raises(ImportFailed) as raised:
        client.hub()
    assert raised.value.stop and "STS GetCallerIdentity: ExpiredToken" in str(raised.value)


@pytest.mark.parametrize(
    ("code", "status", "stop", "unavailable", "split", "says"),
    [
        (
            "InvalidAccessException",
            401,
            True,
            True,
            False,
            "Security Hub is not enabled in cn-north-1 (account 111122223333)",
        ),
        (
            "AccessDeniedException",
            403,
            True,
            True,
            False,
            "allow securityhub:BatchImportFindings on arn:aws-cn:securityhub:",
        ),
        (
            "InvalidInputException",
            400,
            False,
            False,
            True,
            "Security Hub refused the batch (InvalidInputException",
        ),
        ("ResourceNotFoundException", 404, True, False, False, "import failed (ResourceNotFoundException"),
    ],
)
def test_a_refusal_before_processing_says_what_to_do_and_imported_nothing(
    stubs: Any, code: str, status: int, stop: bool, unavailable: bool, split: bool, says: str
) -> None:
    client, hub, sts, _ = stubs
    caller(sts)
    client.hub()
    hub.add_client_error("batch_import_findings", code, "no", http_status_code=status)
    with pytest.raises(ImportFailed) as raised:
        client.import_findings(FINDINGS)
    assert (raised.value.stop, raised.value.unavailable, raised.value.split) == (stop, unavailable, split)
    assert not raised.value.maybe_imported  # a 4xx: the marks go back
    assert says in str(raised.value) and client.calls == 1


def test_a_server_error_is_tried_again_and_may_have_imported_the_batch(stubs: Any) -> None:
    client, hub, _, sleeps = stubs
    for _ in range(3):
        hub.add_client_error("batch_import_findings", "InternalException", "oops", http_status_code=500)
    with pytest.raises(ImportFailed) as raised:
        client.import_findings(FINDINGS)
    assert raised.value.stop and raised.value.maybe_imported
    assert str(raised.value) == (
        "Security Hub failed (InternalException: oops) after 3 tries: the batch may have been imported; "
        "it is sent again next run"
    )
    assert client.calls == 3 and len(sleeps) == 2


def test_a_throttle_after_a_server_error_still_may_have_imported(stubs: Any) -> None:
    client, hub, _, _ = stubs
    hub.add_client_error("batch_import_findings", "InternalException", "oops", http_status_code=500)
    for _ in range(2):
        hub.add_client_error("batch_import_findings", "ThrottlingException", "slow", http_status_code=429)
    with pytest.raises(ImportFailed) as raised:
        client.import_findings(FINDINGS)
    assert raised.value.maybe_imported and "throttled (ThrottlingException) after 3 tries" in str(
        raised.value
    )


def test_no_try_starts_that_would_not_finish_in_the_time_given(stubs: Any) -> None:
    client, hub, _, sleeps = stubs
    hub.add_client_error("batch_import_findings", "TooManyRequestsException", "slow", http_status_code=429)
    with pytest.raises(ImportFailed) as raised:
        client.import_findings(FINDINGS, within_s=client.call_s + 0.5)  # the wait (≥ 1 s) would not fit
    assert client.calls == 1 and sleeps == [] and "after 1 try:" in str(raised.value)


def test_every_finding_refused_as_not_enabled_is_the_hub_unavailable(stubs: Any) -> None:
    client, hub, sts, _ = stubs
    caller(sts)
    client.hub()
    failed = [{"Id": i, "ErrorCode": "InvalidAccess", "ErrorMessage": "not enabled"} for i in IDS]
    hub.add_response("batch_import_findings", {"SuccessCount": 0, "FailedCount": 3, "FailedFindings": failed})
    with pytest.raises(ImportFailed) as raised:
        client.import_findings(FINDINGS)
    assert raised.value.stop and raised.value.unavailable and not raised.value.maybe_imported
    assert str(raised.value).startswith("Security Hub is not enabled in cn-north-1 (account 111122223333)")
    # some of a batch refused so: those findings only
    hub.add_response(
        "batch_import_findings", {"SuccessCount": 2, "FailedCount": 1, "FailedFindings": failed[:1]}
    )
    assert [r.id for r in client.import_findings(FINDINGS)] == IDS[:1]


def test_a_call_takes_at_most_its_timeouts() -> None:
    from botocore.config import Config

    from imagewatch.alerts.securityhub_client import CONNECT_S, READ_S, worst_case_s

    tight = boto3.client(
        "securityhub",
        region_name="eu-west-1",
        config=Config(
            retries={"mode": "standard", "max_attempts": 0}, connect_timeout=CONNECT_S, read_timeout=READ_S
        ),
        **CREDENTIALS,
    )
    assert worst_case_s(tight) == CONNECT_S + READ_S == 15.0
    five = boto3.client(  # botocore's own retries: every attempt, and the backoff between them
        "securityhub",
        region_name="eu-west-1",
        config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=20),
        **CREDENTIALS,
    )
    assert worst_case_s(five) == 5 * 25 + (1 + 2 + 4 + 8)


def test_throttling_is_retried_with_backoff_then_left_for_the_next_run(stubs: Any) -> None:
    client, hub, _, sleeps = stubs
    for code in ("TooManyRequestsException", "ThrottlingException", "LimitExceededException"):
        hub.add_client_error("batch_import_findings", code, "Rate exceeded", http_status_code=429)
    with pytest.raises(ImportFailed) as raised:
        client.import_findings(FINDINGS)
    assert raised.value.stop and str(raised.value) == (
        "throttled (LimitExceededException) after 3 tries: left for the next run"
    )
    assert client.calls == 3 and len(sleeps) == 2 and all(1.0 <= wait <= 9.0 for wait in sleeps)


def test_refusals_are_the_findings_the_answer_names() -> None:
    answer = {
        "SuccessCount": 2,
        "FailedCount": 1,
        "FailedFindings": [{"Id": IDS[1], "ErrorCode": "Invalid\x00Input", "ErrorMessage": "bad\n" * 200}],
    }
    [refusal] = refusals(answer, FINDINGS)
    assert refusal.id == IDS[1] and refusal.code == "InvalidInput"
    assert "\n" not in refusal.message and len(refusal.message) <= 200
    assert refusals({"SuccessCount": 3, "FailedCount": 0}, FINDINGS) == []


@pytest.mark.parametrize(
    "answer",
    [
        {"SuccessCount": 2, "FailedCount": 0, "FailedFindings": []},  # one finding unaccounted for
        {"SuccessCount": 2, "FailedCount": 1, "FailedFindings": []},  # a failure it does not name
        {"SuccessCount": 2, "FailedCount": 1, "FailedFindings": [{"Id": "someone-else", "ErrorCode": "X"}]},
        {"SuccessCount": "3", "FailedCount": 0},
        {},
        [],
    ],
)
def test_an_answer_that_does_not_add_up_confirms_nothing(answer: Any) -> None:
    with pytest.raises(ImportFailed) as raised:
        refusals(answer, FINDINGS)
    assert not raised.value.stop and "does not account for every finding" in str(raised.value)
    assert raised.value.maybe_imported  # it was processed, somehow: the marks stay


def test_a_finding_the_api_model_refuses_fails_its_batch_only() -> None:
    unreachable = boto3.client(
        "securityhub", region_name="eu-west-1", endpoint_url="http://127.0.0.1:9", **CREDENTIALS
    )
    client = SecurityHubClient(unreachable, None)  # validation fails before any request is made
    with pytest.raises(ImportFailed) as raised:
        client.import_findings([{"Id": "x", "Severity": {"Label": "SEVERE"}}])
    assert not raised.value.stop and str(raised.value).startswith(
        "a finding was not valid ASFF: ParamValidationError"
    )
    assert raised.value.split and not raised.value.maybe_imported  # never sent: the walk halves the batch


def test_a_refusal_is_a_plain_record() -> None:
    assert Refusal("i", "c", "m") == Refusal("i", "c", "m")
