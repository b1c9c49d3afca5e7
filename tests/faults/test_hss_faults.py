"""HSS faults at the edge of a real run: the handler, the emulator's count-based faults, virtual sleep.

Each test drives ``lambda_handler`` (through the fault harness) and asserts exactly what the chat
stand-in accepted: a fault the client absorbs changes nothing chat sees; a fault that makes the read
incomplete resolves nothing, and the next clean run resolves exactly what is gone.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx
import pytest

from imagewatch.emulator import Emulator, Fleet
from imagewatch.handler import RunFailedError
from imagewatch.hss.auth import TokenAuth
from imagewatch.hss.client import HssClient
from imagewatch.hss.query import MAX_OFFSET
from imagewatch.standins.webhook_sink import WebhookSink
from support.fault_harness import Harness, fingerprint
from support.known_fleet import EXPECTED

NEW_EXPECTED = {("new", policy, fingerprint(policy, subject)) for policy, subject in EXPECTED}
ONE_QUERY = {pair for pair in EXPECTED if pair[0] != "high-severity"}  # the policies without a select


def alerts(sink: WebhookSink, index: int = -1) -> set[tuple[str, str, str]]:
    return {(a["kind"], a["policy_id"], a["fingerprint"]) for a in sink.received[index].json()["alerts"]}


def filler(n: int, now_ms: int) -> dict:
    """A compliant image (breaks none of the three e2e policies)."""
    return {
        "image_id": f"fill{n:03d}",
        "image_name": f"shop/fill{n:03d}",
        "image_version": "1.0",
        "host_id": f"hf{n % 7}",
        "host_name": f"node-hf{n % 7}",
        "scan_status": "success",
        "severity_level": "Low",
        "vul_num": 1,
        "malicious_file_num": 0,
        "latest_scan_time": now_ms - 3_600_000,
        "latest_update_time": now_ms - 86_400_000,
    }


@pytest.fixture
def paged(harness: Harness, hss: Emulator, fleet: Fleet, run_clock, policy_dir) -> Harness:
    """The known fleet at offsets 10..18 between compliant fillers, 49 records read 10 a page: a shift
    at the front moves known violations across a page boundary. One listing: high-severity (which
    selects scan_status=success, a second listing) is left out."""
    (policy_dir / "high-severity.json").unlink()
    now_ms = int(run_clock.now * 1000)
    known = fleet.listing()
    fleet.delete([f"{r['image_id']}@{r['host_id']}" for r in known])
    fleet.insert(
        [filler(n, now_ms) for n in range(10)] + known + [filler(n, now_ms) for n in range(10, 40)],
        front=False,
    )
    harness.page_size = 10
    return harness


# -- absorbed: chat sees exactly what it would without the fault -------------------------------------


@pytest.mark.parametrize("retry_after", [None, 0, 3])
def test_a_429_burst_is_retried_after_retry_after_or_backoff_and_slows_the_listing(
    harness: Harness, hss: Emulator, sink: WebhookSink, retry_after: int | None
) -> None:
    hss.faults.throttle(times=3, retry_after=retry_after)
    record = harness.invoke()
    summary = record.summary
    assert record.error is None and summary["status"] == "ok" and summary["problems"] == []
    assert summary["queries"][0]["retries"] == 3 and summary["queries"][0]["complete"]
    assert len(sink.received) == 1 and alerts(sink) == NEW_EXPECTED
    waits = harness.fake.sleeps
    if retry_after is None:  # 2 s floor (Huawei's advice for APIG.0308) + jittered backoff
        assert len(waits) == 3 and all(2.0 <= w <= 2.0 + 20.0 for w in waits)
    else:
        assert waits == [float(retry_after)] * 3
    assert harness.hss_clients[-1].gate.pacer.cuts >= 1  # the whole listing slowed down
    assert hss.stats.by_status.get(429) == 3


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried_with_backoff(
    harness: Harness, hss: Emulator, sink: WebhookSink, status: int
) -> None:
    hss.faults.error(status, times=2)
    summary = harness.invoke().summary
    assert summary["status"] == "ok" and summary["queries"][0]["retries"] == 2
    assert alerts(sink) == NEW_EXPECTED and len(sink.received) == 1
    assert len(harness.fake.sleeps) == 2 and all(0 <= w <= 20.0 for w in harness.fake.sleeps)


def test_connection_resets_are_retried(harness: Harness, hss: Emulator, sink: WebhookSink) -> None:
    hss.faults.reset(times=2)
    summary = harness.invoke().summary
    assert summary["status"] == "ok" and summary["queries"][0]["retries"] == 2
    assert alerts(sink) == NEW_EXPECTED


def test_malformed_json_is_retried(harness: Harness, hss: Emulator, sink: WebhookSink) -> None:
    hss.faults.malformed(times=2)
    summary = harness.invoke().summary
    assert summary["status"] == "ok" and summary["queries"][0]["retries"] == 2
    assert alerts(sink) == NEW_EXPECTED


def test_a_read_timeout_is_retried(harness: Harness, hss: Emulator, sink: WebhookSink) -> None:
    harness.hss_timeout = httpx.Timeout(connect=2.0, read=0.3, write=2.0, pool=2.0)
    hss.faults.slow(30.0, times=1)  # held until the client gives up on it (0.3 s), then woken
    summary = harness.invoke().summary
    hss.wake()
    assert summary["status"] == "ok" and summary["queries"][0]["retries"] == 1
    assert alerts(sink) == NEW_EXPECTED


def test_iam_token_expiring_mid_run_is_refreshed_once_for_all_pages_in_flight(
    paged: Harness, hss: Emulator, sink: WebhookSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HSS_AK", "HSS_SK", "HSS_SECURITY_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("HSS_IAM_USER", "faults-user")
    monkeypatch.setenv("HSS_IAM_PASSWORD", "iampw-planted-faults-Ui7o")
    monkeypatch.setenv("HSS_IAM_DOMAIN", "faults-domain")
    hss.faults.expire_token_after(1)  # the token of the first page expires: 4 pages in flight meet it
    summary = paged.invoke().summary
    assert summary["status"] == "ok" and summary["queries"][0]["complete"]
    assert [(q["pages"], q["images"]) for q in summary["queries"]] == [(5, 49)]
    assert hss.auth.tokens_issued == 2 and hss.stats.by_route["iam"] == 2  # one refresh, not one per page
    assert hss.stats.by_status[401] >= 1
    assert alerts(sink) == {("new", policy, fingerprint(policy, subject)) for policy, subject in ONE_QUERY}


# -- incomplete: nothing resolved until a complete read --------------------------------------------


def test_http_500_is_final_the_run_fails_loudly_and_resolves_nothing(
    harness: Harness, hss: Emulator, fleet: Fleet, sink: WebhookSink
) -> None:
    harness.invoke()
    fleet.delete(["b@h1"])
    hss.faults.error(500, times=2)  # the first request of each of the run's two listings
    failed = harness.invoke()
    assert isinstance(failed.error, RunFailedError)
    assert "HSS answered HTTP 500 HSS.0500" in str(failed.error)
    assert failed.summary["status"] == "failed" and failed.summary["resolved"] == 0
    assert len(sink.received) == 1 and hss.stats.by_status[500] == 2  # not retried: 500 is not transient
    healed = harness.invoke().summary
    assert healed["resolved"] == 1
    assert alerts(sink) == {("resolved", "malicious-files", fingerprint("malicious-files", "b"))}


def test_hss_down_for_a_whole_run_fails_it_after_six_attempts_then_recovers(
    harness: Harness, hss: Emulator, fleet: Fleet, sink: WebhookSink
) -> None:
    harness.invoke()
    fleet.delete(["b@h1"])
    hss.faults.error(503, times=None)
    failed = harness.invoke()
    assert isinstance(failed.error, RunFailedError) and failed.summary["resolved"] == 0
    assert hss.stats.by_status[503] == 2 * 6 and len(harness.fake.sleeps) == 2 * 5  # 6 tries a listing
    assert len(sink.received) == 1
    hss.faults.clear()
    assert harness.invoke().summary["resolved"] == 1 and len(sink.received) == 2


def test_a_later_listing_that_fails_holds_back_its_own_fixes_only(
    harness: Harness, hss: Emulator, fleet: Fleet, sink: WebhookSink
) -> None:
    """Each query's policies are merged with the ledger as soon as their listing ends, while the next
    one is read (``alerts/staged_merge.py``): the listing read whole resolves what it no longer finds,
    though the run's other listing then fails; that one's fixes wait for a complete read."""
    harness.invoke()
    fleet.delete(["a@h1", "b@h1"])  # a: high-severity's (its own listing); b: malicious-files'
    hss.faults.error(500, times=1, after=1)  # the first listing passes, the second's first page fails
    summary = harness.invoke().summary
    whole, cut = summary["queries"]
    assert whole["complete"] and not cut["complete"] and summary["status"] == "partial"
    fixed = {"high-severity": "a", "malicious-files": "b"}
    [resolves] = [policy for policy in whole["policies"] if policy in fixed]
    [waits] = [policy for policy in cut["policies"] if policy in fixed]
    assert summary["resolved"] == 1
    assert alerts(sink) == {("resolved", resolves, fingerprint(resolves, fixed[resolves]))}
    healed = harness.invoke().summary
    assert healed["status"] == "ok" and healed["resolved"] == 1
    assert alerts(sink) == {("resolved", waits, fingerprint(waits, fixed[waits]))}


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("vul_num", "many", "field 'vul_num' is 'many', expected an integer"),
        ("image_name", 42, "field 'image_name' is 42, expected a string"),
        ("latest_scan_time", -5, "field 'latest_scan_time' is -5, expected an integer ≥ 0"),
        ("host_id", ["h1"], "field 'host_id' is ['h1'], expected a string"),
        (None, "not a record", "field '(record)' is 'not a record', expected a JSON object"),
    ],
)
def test_a_record_with_wrong_types_makes_the_read_incomplete_and_resolves_nothing(
    harness: Harness,
    hss: Emulator,
    fleet: Fleet,
    sink: WebhookSink,
    field: str | None,
    value: object,
    says: str,
) -> None:
    harness.invoke()
    fleet.delete(["b@h1", "c@h2"])  # two violations really gone
    hss.faults.corrupt(offset=0, field=field, value=value, times=None)  # a@h1 arrives broken
    broken = harness.invoke().summary
    assert broken["status"] == "partial" and broken["resolved"] == 0 and broken["new"] == 0
    assert any("incomplete read" in p and says in p for p in broken["problems"]), broken["problems"]
    assert len(sink.received) == 1  # nothing resolved, so nothing to say
    hss.faults.clear()
    healed = harness.invoke().summary
    assert healed["status"] == "ok" and healed["resolved"] == 2
    assert alerts(sink) == {
        ("resolved", "malicious-files", fingerprint("malicious-files", "b")),
        ("resolved", "scan-freshness", fingerprint("scan-freshness", "c")),
    }


def test_deletes_between_pages_shift_violations_out_of_the_read_and_resolve_nothing(
    paged: Harness, hss: Emulator, sink: WebhookSink
) -> None:
    paged.invoke()
    # after the first page, 3 fillers go: a, b and c slide from offsets 10-12 into the page already read
    hss.faults.mutate_after(1, delete=3)
    shifted = paged.invoke().summary
    query = shifted["queries"][0]
    assert not query["complete"] and shifted["resolved"] == 0 and shifted["new"] == 0
    assert query["images"] == 46  # 10 + 36: a, b and c slid into page one after it was read, unseen
    assert any("total_num changed while paging (49 → 46)" in p for p in shifted["problems"])
    assert len(sink.received) == 1
    healed = paged.invoke().summary
    assert (healed["status"], healed["resolved"], healed["new"]) == ("ok", 0, 0)
    assert len(sink.received) == 1 and healed["still_open"] == len(ONE_QUERY)


def test_inserts_between_pages_repeat_records_that_are_dropped_and_resolve_nothing(
    paged: Harness, hss: Emulator, fleet: Fleet, sink: WebhookSink
) -> None:
    paged.invoke()
    fleet.delete(["b@h1"])
    hss.faults.mutate_after(1, insert=3)  # 3 compliant clones at the front: later pages repeat records
    shifted = paged.invoke().summary
    query = shifted["queries"][0]
    assert not query["complete"] and query["duplicates"] == 3
    assert shifted["resolved"] == 0 and shifted["new"] == 0 and len(sink.received) == 1
    healed = paged.invoke().summary
    assert healed["resolved"] == 1 and healed["images_evaluated"] == 48 + 3
    assert alerts(sink) == {("resolved", "malicious-files", fingerprint("malicious-files", "b"))}


# -- the offset ceiling and the time budget --------------------------------------------------------

CEILING_POLICY = {
    "id": "ceiling-malicious",
    "title": "No malicious files (ceiling test)",
    "severity": "critical",
    "where": {"field": "malicious_file_num", "op": "gt", "value": 0},
    "message": "{image_name} on {host_name}",
}
START = MAX_OFFSET - 200  # read the last two reachable pages only: what a full read would end with


class StartingNearTheCeiling(HssClient):
    """A shim: run.py reads from offset 0; a 2,000,000-record read takes minutes, so this run starts at
    ``START`` (the client's public ``start_offset``) and sees exactly what a full read sees at its end."""

    def list_images(self, query=None, *, start_offset=0, deadline=None):
        return super().list_images(query, start_offset=START, deadline=deadline)


def synthetic(size: int, seed: int) -> Fleet:
    return Fleet.synthetic(size, seed=seed, now_ms=1_760_000_000_000, enterprise_projects=("0",))


def test_an_inventory_past_the_offset_ceiling_is_read_to_the_ceiling_and_said_incomplete() -> None:
    with Emulator(synthetic(MAX_OFFSET + 300, 3)) as emu:
        client = HssClient(emu.url, emu.project_id, TokenAuth("demo-token"))
        listing = client.list_images(start_offset=START)
        images = list(listing)
        client.close()
    assert len(images) == 400 and listing.stats.pages == 2 and not listing.complete
    assert listing.problems == [
        "HSS reports 2000300 images but ListImageLocal pages only up to offset 2,000,000: "
        "100 images are unreachable; narrow the query (select) to split it"
    ]


def test_a_run_over_the_offset_ceiling_resolves_nothing(
    harness: Harness, hss: Emulator, sink: WebhookSink, policy_dir
) -> None:
    import json

    for path in policy_dir.iterdir():
        path.unlink()
    (policy_dir / "ceiling.json").write_text(json.dumps(CEILING_POLICY))
    harness.hss_class = StartingNearTheCeiling
    hss.fleet = synthetic(MAX_OFFSET + 200, 3)  # exactly reachable: a complete read
    first = harness.invoke().summary
    opened = first["new"]
    assert first["status"] == "ok" and opened > 0
    hss.fleet = synthetic(MAX_OFFSET + 300, 4)  # other records everywhere, and 100 past the ceiling
    over = harness.invoke().summary
    assert over["resolved"] == 0 and over["status"] == "partial"  # every old violation is gone, unjudged
    assert any("100 images are unreachable" in p for p in over["problems"])
    hss.fleet = synthetic(MAX_OFFSET + 200, 4)
    assert harness.invoke().summary["resolved"] == opened  # a complete read resolves exactly those
    resolved = [a for a in sink.received[-1].json()["alerts"] if a["kind"] == "resolved"]
    assert len(resolved) == opened


class AfterFirstPage:
    """A monotonic clock on which an hour passes as soon as the emulator has answered one more listing
    request than when the clock was made: a deadline passes right after the first page, no real wait."""

    def __init__(self, hss: Emulator) -> None:
        self.hss = hss
        self.base = hss.stats.by_route.get("list", 0)

    def __call__(self) -> float:
        answered = self.hss.stats.by_route.get("list", 0) > self.base
        return time.monotonic() + (3600.0 if answered else 0.0)


def test_the_time_budget_stops_a_listing_incomplete(hss: Emulator, fleet: Fleet, run_clock) -> None:
    fleet.insert([filler(n, int(run_clock.now * 1000)) for n in range(40)], front=False)
    client = HssClient(
        hss.url, hss.project_id, TokenAuth("demo-token"), page_size=10, monotonic=AfterFirstPage(hss)
    )
    listing = client.list_images(deadline=time.monotonic() + 60.0)  # passes after the first page
    images = list(listing)
    client.close()
    assert len(images) == 10 and not listing.complete
    assert listing.problems == ["stopped at the time budget after 10 of 49 records"]


def test_a_run_cut_by_its_time_budget_resolves_nothing(
    paged: Harness,
    hss: Emulator,
    fleet: Fleet,
    sink: WebhookSink,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The handler's own budget: 35 s left in the Lambda means fetching stops 15 s from now (a 20 s
    margin to send and record); on the client's clock an hour passes with the first page. The run's
    workspace (its findings spilled to disk) is gone afterwards, cut or not."""
    from imagewatch.local_context import LocalContext

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    paged.invoke()
    fleet.delete(["b@h1"])
    paged.hss_monotonic = lambda: AfterFirstPage(hss)
    cut = paged.invoke(context=LocalContext(timeout_s=35.0)).summary
    assert cut["resolved"] == 0 and cut["status"] == "partial"
    assert any("stopped at the time budget after 10 of 48 records" in p for p in cut["problems"])
    assert len(sink.received) == 1
    assert list(scratch.iterdir()) == []  # no workspace left behind by the cut run
    paged.hss_monotonic = None
    assert paged.invoke().summary["resolved"] == 1
    assert list(scratch.iterdir()) == []
