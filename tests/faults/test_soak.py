"""A seeded soak: many consecutive scheduled runs over a changing fleet with random faults at every edge,
then the faults clear and the runs go quiet, and an independent model (tests/support/soak_model.py)
judges everything the chat stand-ins accepted.

Edges: HSS (429 with and without Retry-After, 502/503/504, resets, malformed JSON, ``data_list`` null,
a page longer than ``limit``, a page trickled a byte at a time — absorbed; a record with wrong types, a
500, HSS down, inserts and deletes between pages, a short page, a ``total_num`` lower than the records,
pages that ignore the offset — incomplete reads), exemptions added to the policy files for a few hours
(the SLA clock of what they cover pauses, and resumes when they lapse), an event redirecting the run's
credentials to another endpoint (refused before anything is sent), a policy with a
catastrophic-backtracking regex, chat (each platform's "too fast", 5xx, a permanent refusal, a channel
down for several runs), the store (lease, read, reconcile write, the crash between "sent" and
"recorded", a killed process, the final cleanup), and duplicate invocations of one scheduled time.

CI runs ``IMAGEWATCH_SOAK_RUNS`` = 50 (a few seconds); a longer soak:
``IMAGEWATCH_SOAK_RUNS=1000 IMAGEWATCH_SOAK_SEED=7 .venv/bin/python -m pytest tests/faults/test_soak.py``.
The tallies are printed at the end of the pytest output (``imagewatch fault soak``).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagewatch.emulator import Emulator, Fleet
from imagewatch.standins.webhook_sink import WebhookSink
from support import reports
from support.fault_harness import (
    FakeTime,
    Harness,
    RunClock,
    captured_output,
    clear_chat_faults,
    leaks,
    marked_items,
    more_line,
)
from support.loopback_servers import BlackHole
from support.soak_model import (
    CHANNELS,
    HOUR,
    POLICIES,
    SLA_HOURS,
    SLA_SETTING,
    SOAK_REPORT,
    TAGS,
    Exemption,
    RunFacts,
    SoakModel,
    breaking_hosts,
    channels_document,
    fingerprint,
    identity,
    judge_read,
    policy_document,
    subject,
    violations,
)

from .conftest import PLANTED, credentials

RUNS = int(os.environ.get("IMAGEWATCH_SOAK_RUNS", "50"))
SEED = int(os.environ.get("IMAGEWATCH_SOAK_SEED", "20260101"))
QUIET_RUNS = 3  # after the faults clear: one run to catch up, then every run must be quiet
PAGE = 10  # small pages, so inserts and deletes really shift records across page boundaries
SIGNING_SECRET = "soak-signing-secret-planted-Hy6u"
URL_TOKENS = {name: f"soak-{name}-hook-token-planted-{n}Jk3" for n, name in enumerate(CHANNELS)}
EVENT = {"source": "schedule", "scheduled_time": "2026-01-01T00:00:00Z"}
HSS_ABSORBED = (
    "429", "429 Retry-After", "502", "503", "504", "reset", "malformed", "null list", "long page", "trickle",
)  # fmt: skip
HSS_INCOMPLETE = ("corrupt", "500", "down", "insert", "delete", "short page", "low total", "ignore offset")
EVENT_KINDS = ("redirect",)  # an event naming another endpoint: refused, the run never starts
TRICKLE_DEADLINE_S = 0.2  # real seconds a trickled page costs (the client's exchange deadline)
# never fires (no image name holds "!"), but would take seconds per image on a backtracking engine
HOSTILE_REGEX_POLICY = {
    "id": "soak-hostile-regex",
    "title": "Soak rule with a catastrophic-backtracking regex",
    "severity": "critical",
    "where": {"field": "image_name", "op": "regex", "value": "(.{1,9}){1,9}!"},
    "message": "never {image_id}",
}
CHAT_KINDS = ("too fast", "5xx", "5xx whole run", "down", "permanent")
STORE_KINDS = ("killed after send", "acquire", "load", "save", "save_after_send", "forget")
EXEMPT_HOURS = (2, 12)  # an exemption holds this many runs, lapsing by the first quiet run at the latest
FORCED_EXEMPTIONS = (3, 8)  # runs that add one whatever the seed draws (a pause early, while clocks run)
# every kind once, early, whatever the seed draws; then the draws alone
AGENDA = {
    "hss": [*HSS_INCOMPLETE, *HSS_ABSORBED, *EVENT_KINDS],
    "chat": list(CHAT_KINDS),
    "store": list(STORE_KINDS),
}


class Driver:
    """Chooses the fleet's changes and the faults of each run from one seeded RNG, and records facts."""

    def __init__(
        self,
        rng: random.Random,
        hss: Emulator,
        sinks: dict[str, WebhookSink],
        harness: Harness,
        attacker: BlackHole,
        policies: Path,
        lapse_by: float,
    ):
        self.rng, self.hss, self.sinks, self.harness = rng, hss, sinks, harness
        self.attacker = attacker  # where a redirecting event points: must never hear from us
        self.policies = policies  # the run's POLICY_PATH: exemptions are written there between runs
        self.lapse_by = lapse_by  # every exemption lapses by then (the quiet runs see none)
        self.exemptions: list[Exemption] = []
        self.fleet = hss.fleet
        self.images = 0
        self.fixed: list[tuple[str, str, int]] = []  # (subject, field, breaking value) fixed lately
        self.faults: Counter[str] = Counter()

    # the fleet

    def record(self) -> dict[str, Any]:
        self.images += 1
        now_ms = int(self.harness.clock() * 1000)
        record = {
            "image_id": f"img{self.images:04d}",
            "image_name": f"soak/img{self.images:04d}",
            "image_version": "1.0",
            "host_id": f"hst{self.rng.randrange(6)}",
            "scan_status": "success",
            "severity_level": "Low",
            "latest_scan_time": now_ms - 3_600_000,
            "latest_update_time": now_ms - 86_400_000,
        }
        record["host_name"] = f"node-{record['host_id']}"
        for _, _, _, name, broken, clean, _ in POLICIES.values():
            record[name] = broken if self.rng.random() < 0.3 else clean
        return record

    def change_fleet(self) -> None:
        for _ in range(self.rng.choice((0, 0, 1, 1, 2, 3))):
            records = self.fleet.listing()
            move = self.rng.choice(("add", "fix", "break", "delete", "flap", "spread"))
            if (move == "add" and len(records) < 32) or len(records) < 16:
                self.fleet.insert([self.record()], front=self.rng.random() < 0.3)
                self.faults["fleet: image added"] += 1
            elif move == "spread":  # the same image on one more host: image subjects count hosts
                self.spread(self.rng.choice(records), records)
            elif move == "delete":
                self.fleet.delete([identity(self.rng.choice(records))])
                self.faults["fleet: image removed"] += 1
            elif move == "flap" and self.fixed:  # a rule fixed lately breaks again: a new episode
                subject, name, broken = self.fixed.pop()
                if self.fleet.find(subject) is not None:
                    self.fleet.update(subject, **{name: broken})
                    self.faults["fleet: fixed image broken again"] += 1
            else:
                record = self.rng.choice(records)
                _, _, _, name, broken, clean, _ = POLICIES[self.rng.choice(sorted(POLICIES))]
                self.fleet.update(identity(record), **{name: clean if move == "fix" else broken})
                self.faults[f"fleet: image {'fixed' if move == 'fix' else 'broken'}"] += 1
                if move == "fix" and record.get(name) == broken:
                    self.fixed = [*self.fixed[-3:], (identity(record), name, broken)]

    def spread(self, record: dict[str, Any], records: list[dict[str, Any]]) -> None:
        taken = {r["host_id"] for r in records if r["image_id"] == record["image_id"]}
        free = [f"hst{n}" for n in range(6) if f"hst{n}" not in taken]
        if not free:
            return
        host = self.rng.choice(free)
        clone = {**record, "host_id": host, "host_name": f"node-{host}"}
        for _, _, _, name, broken, clean, _ in POLICIES.values():  # each host has its own findings
            clone[name] = broken if self.rng.random() < 0.5 else clean
        self.fleet.insert([clone], front=self.rng.random() < 0.3)
        self.faults["fleet: image spread to another host"] += 1

    # exemptions: a policy file changed between runs

    def arm_exemption(self, forced: bool = False) -> None:
        """Sometimes exempt one current violation of a rule with an SLA clock, for a few hours."""
        if not forced and self.rng.random() >= 0.12:
            return
        now = self.harness.clock()
        covered = {(e.policy, e.image_id, e.host_id) for e in self.exemptions if now < e.expires}
        candidates = []
        for policy, about in sorted(violations(self.fleet.listing()).values()):
            image, _, host = about.partition("@")
            if SLA_HOURS[POLICIES[policy][0]] and (policy, image, host or None) not in covered:
                candidates.append((policy, image, host or None))
        if not candidates:
            return
        policy, image, host = self.rng.choice(candidates)
        expires = min(now + self.rng.randint(*EXEMPT_HOURS) * HOUR, self.lapse_by)
        self.exemptions = [e for e in self.exemptions if e.expires > now - 6 * HOUR]  # old ones go
        self.exemptions.append(Exemption(policy, image, host, expires))
        for policy_id in POLICIES:
            document = policy_document(policy_id, self.exemptions)
            (self.policies / f"{policy_id}.json").write_text(json.dumps(document))
        self.faults["policy: exemption added"] += 1

    # faults

    def arm_hss(self, forced: str | None = None) -> tuple[str | None, int | None]:
        """Arm this run's HSS faults; returns (an incompleteness fault, its offset) or (None, None)."""
        roll = self.rng.random()
        kind = forced
        if kind is None and roll < 0.02:
            kind = "redirect"
        elif kind is None and roll < 0.16:
            kind = self.rng.choice(HSS_INCOMPLETE)
        if kind == "redirect":
            self.faults["event: redirect to another endpoint"] += 1
            return kind, None
        if kind in HSS_INCOMPLETE:
            if kind in ("insert", "delete", "ignore offset") and len(self.fleet.listing()) < 2 * PAGE:
                kind = "corrupt"
            return self.arm_incomplete(kind)
        budget = 4  # fewer than the client's 6 attempts, so one page can never exhaust them
        while (kind is not None or roll < 0.5) and budget > 0:
            times = self.rng.randint(1, min(2, budget))
            budget -= times
            self.arm_absorbed(kind or self.rng.choice(HSS_ABSORBED), times)
            kind, roll = None, self.rng.random()
        return None, None

    def arm_incomplete(self, kind: str) -> tuple[str, int | None]:
        faults = self.hss.faults
        self.faults[f"hss: {kind}"] += 1
        if kind == "corrupt":
            offset = self.rng.randrange(len(self.fleet.listing()))
            field, value = self.rng.choice((("vul_num", "many"), ("image_name", 42), (None, "junk")))
            faults.corrupt(offset=offset, field=field, value=value, times=1)
            return kind, offset
        if kind == "short page":  # the first page is read alone: the listing stops right there
            keep = self.rng.randrange(PAGE)
            faults.lie("short", keep=keep)
            return kind, keep
        if kind == "low total":
            faults.lie("low_total")
        elif kind == "ignore offset":
            faults.lie("ignore_offset", times=None, after=1)
        elif kind == "500":
            faults.error(500, times=1)
        elif kind == "down":
            faults.error(503, times=None)
        else:
            faults.mutate_after(1, **{kind: self.rng.randint(1, 4)})
        return kind, None

    def arm_absorbed(self, kind: str, times: int) -> None:
        faults = self.hss.faults
        self.faults[f"hss: {kind}"] += times
        if kind == "429":
            faults.throttle(times=times)
        elif kind == "429 Retry-After":
            faults.throttle(times=times, retry_after=self.rng.choice((0, 1, 5)))
        elif kind in ("502", "503", "504"):
            faults.error(int(kind), times=times)
        elif kind == "reset":
            faults.reset(times=times)
        elif kind == "null list":
            faults.lie("null_list", times=times)
        elif kind == "long page":
            faults.lie("long", times=times)
        elif kind == "trickle":
            faults.trickle(0.02, times=times)
        else:
            faults.malformed(times=times)

    def arm_chat(self, forced: str | None = None) -> None:
        chosen = self.rng.choice(sorted(self.sinks)) if forced else None
        for name, sink in self.sinks.items():
            if name != chosen and self.rng.random() >= 0.15:
                continue
            kind = forced if name == chosen else self.rng.choice(CHAT_KINDS)
            self.faults[f"chat: {kind}"] += 1
            if kind == "too fast":
                sink.throttle_next(self.rng.randint(1, 3), retry_after=self.rng.choice((1.0, 2.0, 5.0)))
            elif kind == "5xx":
                sink.fail_next(self.rng.randint(1, 2), self.rng.choice((500, 502, 503, 504)))
            elif kind == "5xx whole run":
                sink.fail_next(3, 503)
            elif kind == "down":
                sink.fail_next(3 * self.rng.randint(2, 4), 503)  # 3 attempts a run it has something to say
            else:
                sink.fail_next(1, 400, b"invalid_payload")

    def arm_store(self, forced: str | None = None) -> bool:
        """Arm a store failure; True when it is a killed process (the driver then invokes again at once:
        that invocation must find the lease held)."""
        if forced is None and self.rng.random() >= 0.1:
            return False
        kind = forced or self.rng.choice(STORE_KINDS)
        self.faults[f"store: {kind}"] += 1
        if kind == "killed after send":
            self.harness.store_faults.arm("save_after_send", kill=True)
            return True
        self.harness.store_faults.arm(kind)
        return False

    # one invocation

    def invoke(self, incomplete: str | None, offset: int | None, quiet: bool = False) -> RunFacts:
        before_records = self.fleet.listing()
        truth_before = violations(before_records)
        tripped = len(self.harness.store_faults.tripped)
        event = EVENT
        if incomplete == "redirect":
            target = {"name": "prod", "endpoint": self.attacker.url("")}
            event = {"source": "manual", "action": "check", "target": target}
        record = self.harness.invoke(event)
        self.hss.faults.clear()
        after_records = self.fleet.listing()
        truth_after = violations(after_records)
        stopped = self.harness.store_faults.tripped[tripped:]
        self.tally_image_moves(breaking_hosts(before_records), breaking_hosts(after_records))
        summary = record.summary
        skipped = summary is not None and summary.get("status") == "skipped"
        saved = not skipped and not {"acquire", "load", "save"} & set(stopped) and incomplete != "redirect"
        # what the run read (an image subject is found if any record of it that was read breaks)
        if incomplete in ("500", "down", "redirect"):
            read: list[dict[str, Any]] = []
        elif incomplete == "corrupt":
            read = before_records[:offset] + before_records[offset + 1 :]
        elif incomplete in ("insert", "delete"):
            read = before_records[:PAGE] + after_records[PAGE:]
        elif incomplete == "short page":
            read = before_records[:offset]
        elif incomplete in ("low total", "ignore offset"):
            read = before_records[:PAGE]
        else:
            read = before_records
        found, exempted = judge_read(read, self.exemptions, record.at)
        items = {name: self.accepted(name, record) for name in self.sinks}
        return RunFacts(
            record.at,
            truth_before,
            truth_after,
            set(found),
            incomplete is None,
            saved,
            summary,
            items,
            record.crashed_after,
            quiet,
            exempted - set(found),
        )

    def tally_image_moves(self, before: dict[str, set[str]], after: dict[str, set[str]]) -> None:
        """What happened to image subjects across the run's fleet changes, for the printed tallies."""
        for fp in before.keys() | after.keys():
            was, now = before.get(fp, set()), after.get(fp, set())
            if was and now and was - now:
                self.faults["image subject: a host cleared, another still breaks it"] += 1
            if was and now and now - was:
                self.faults["image subject: one more host breaks it"] += 1
            if was and not now:
                self.faults["image subject: its last host cleared"] += 1

    def accepted(self, channel: str, record: Any) -> set[tuple[str, str]]:
        """(kind, fingerprint) of every item the channel's stand-in accepted in this run."""
        items: set[tuple[str, str]] = set()
        for body in record.messages(self.sinks, channel):
            if CHANNELS[channel][0] == "generic":
                assert body["truncated"] == 0
                items |= {(a["kind"], a["fingerprint"]) for a in body["alerts"]}
            else:
                assert not more_line(body), "a digest did not list everything: the model could not count it"
                items |= {
                    (kind, fingerprint(TAGS[tag], subject(TAGS[tag], image, host)))
                    for kind, tag, image, host in marked_items(body)
                }
        return items


@pytest.fixture
def soak_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_time: FakeTime
) -> Iterator[tuple[Emulator, dict[str, WebhookSink]]]:
    policies = tmp_path / "policies"
    policies.mkdir()
    for policy_id in POLICIES:
        (policies / f"{policy_id}.json").write_text(json.dumps(policy_document(policy_id)))
    (policies / "hostile-regex.json").write_text(json.dumps(HOSTILE_REGEX_POLICY))
    sinks: dict[str, WebhookSink] = {}
    with Emulator(Fleet.from_records([]), credentials()) as hss:
        try:
            for name, (platform, signed, *_) in CHANNELS.items():
                secret = SIGNING_SECRET if signed else None
                sinks[name] = WebhookSink(
                    platform, secret=secret, token=URL_TOKENS[name], clock=fake_time.wall
                )
                sinks[name].start()
            env = {
                "HSS_ENDPOINT": hss.url,
                "HSS_PROJECT_ID": hss.project_id,
                "HSS_AK": PLANTED["HSS_AK"],
                "HSS_SK": PLANTED["HSS_SK"],
                "HSS_SECURITY_TOKEN": PLANTED["HSS_SECURITY_TOKEN"],
                "POLICY_PATH": str(policies),
                "STATE_PATH": str(tmp_path / "state.sqlite3"),
                "REPORT_DIR": str(tmp_path / "reports"),
                "SOAK_SIGNING_SECRET": SIGNING_SECRET,
                "SLA": SLA_SETTING,
                "CHANNELS_JSON": json.dumps(channels_document()),
                **{f"{name.upper()}_URL": sink.url for name, sink in sinks.items()},
            }
            for name in (
                "HSS_REGION",
                "WEBHOOK_URL",
                "WEBHOOK_SECRET",
                "CHANNELS_FILE",
                "STATE_TABLE",
                "REPORT_BUCKET",
                "SETTINGS_SECRET",
                "HSS_AUTH_TOKEN",
                "HSS_IAM_USER",
            ):
                monkeypatch.delenv(name, raising=False)
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            yield hss, sinks
        finally:
            for sink in sinks.values():
                sink.stop()
            hss.wake()


def test_soak_nothing_lost_nothing_duplicated_nothing_leaked(
    soak_env: tuple[Emulator, dict[str, WebhookSink]],
    fake_time: FakeTime,
    monkeypatch: pytest.MonkeyPatch,
    pytestconfig: pytest.Config,
    tmp_path: Path,
) -> None:
    hss, sinks = soak_env
    harness = Harness(
        sinks,
        fake=fake_time,
        clock=RunClock(1_767_225_600.0),
        page_size=PAGE,
        loopback_transport=True,
        hss_exchange_deadline_s=TRICKLE_DEADLINE_S,
    ).install(monkeypatch)
    rng = random.Random(SEED)
    attacker = BlackHole().__enter__()
    lapse_by = harness.clock() + RUNS * HOUR  # the first quiet run's time
    driver = Driver(rng, hss, sinks, harness, attacker, tmp_path / "policies", lapse_by)
    hss.fleet.insert([driver.record() for _ in range(20)])
    model = SoakModel()
    agenda = {edge: list(kinds) for edge, kinds in AGENDA.items()}
    started = time.monotonic()
    facts: list[RunFacts] = []
    with captured_output() as output:
        for run in range(RUNS + QUIET_RUNS):
            quiet = run >= RUNS
            if run == RUNS:  # every fault clears
                harness.store_faults.clear()
                for sink in sinks.values():
                    clear_chat_faults(sink)
            if run:
                harness.clock.advance(HOUR)
            incomplete, offset, killed = None, None, False
            if not quiet:
                forced = {edge: kinds.pop(0) if kinds and run else None for edge, kinds in agenda.items()}
                driver.change_fleet()
                driver.arm_exemption(forced=run in FORCED_EXEMPTIONS)
                incomplete, offset = driver.arm_hss(forced["hss"])
                driver.arm_chat(forced["chat"])
                killed = driver.arm_store(forced["store"])
            facts.append(driver.invoke(incomplete, offset, quiet))
            model.observe(facts[-1], len(facts) - 1)
            if killed and facts[-1].crashed_after:
                again = driver.invoke(None, None)  # the retry of the dead run's event: the lease is held
                assert again.summary is not None and again.summary["status"] == "skipped"
                driver.faults["run: invoked again while a killed run's lease is held"] += 1
                facts.append(again)
                model.observe(facts[-1], len(facts) - 1)
            elif not quiet and rng.random() < 0.05:  # the same scheduled time, invoked again
                driver.faults["run: duplicate invocation"] += 1
                facts.append(driver.invoke(None, None))
                model.observe(facts[-1], len(facts) - 1)
    elapsed = time.monotonic() - started
    attacker.__exit__(None, None, None)
    model.finish(violations(hss.fleet.listing()), harness.clock(), HOUR)

    # leaks: every log line, metric, report, summary, exception and chat message of the soak
    haystack = [stream.getvalue() for stream in output.values()]
    haystack += [json.dumps(record.summary, default=str) for record in harness.records]
    haystack += [f"{record.error!s} {record.error!r}" for record in harness.records if record.error]
    haystack += reports.every_text(tmp_path / "reports")
    haystack += [r.body.decode() for sink in sinks.values() for r in sink.received]
    secrets = [
        *PLANTED.values(),
        SIGNING_SECRET,
        *URL_TOKENS.values(),
        *(sink.url for sink in sinks.values()),
    ]
    leaked = leaks("\n".join(haystack), secrets)

    tallies = model.tallies
    errors = Counter(type(record.error).__name__ for record in harness.records if record.error)
    lines = [
        f"seed {SEED}: {len(facts)} invocations ({RUNS} with faults, {QUIET_RUNS} quiet) in {elapsed:.1f} s; "
        f"failed loudly {dict(sorted(errors.items()))}; "
        f"skipped (lease held) {sum(1 for f in facts if f.summary and f.summary.get('status') == 'skipped')}",
        "injected: " + ", ".join(f"{kind} {n}" for kind, n in sorted(driver.faults.items())),
        f"violations tracked {tallies['violations tracked']} over {tallies['episodes']} episodes; delivered "
        f"new {tallies['delivered new']}, reminder {tallies['delivered reminder']}, "
        f"overdue {tallies['delivered overdue']}, resolved {tallies['delivered resolved']}",
        f"lost = {tallies['lost']}, duplicates = {tallies['duplicate']}, false = {tallies['false']}, "
        f"false resolves = {tallies['false resolve']}, misrouted = {tallies['misrouted']}, "
        f"model mismatches = {tallies['model mismatch']}, wrong due dates = {tallies['wrong due date']}, "
        f"leaked secrets = {len(leaked)}",
        f"SLA clocks: paused by an exemption {tallies['clock paused by an exemption']} "
        f"(while overdue {tallies['clock paused while overdue']}), resumed with the due date moved "
        f"{tallies['clock resumed, due moved']}, resolved while exempted "
        f"{tallies['resolved while exempted']}, overdue after a pause {tallies['overdue after a pause']}; "
        f"resolved late {tallies['resolved late']}, within SLA {tallies['resolved within SLA']}",
        f"expected re-sends after an injected crash = {tallies['expected re-send after an injected crash']}, "
        f"superseded resolved notices = {tallies['superseded resolved notice']}, "
        f"resolved lost after an injected crash = {tallies['resolved lost after an injected crash']} "
        "(docs/faults.md)",
    ]
    pytestconfig.stash[SOAK_REPORT] = lines
    assert model.problems == [], "\n".join(model.problems)
    assert leaked == []
    assert attacker.connections == 0, "a redirecting event reached the other endpoint"
    for kind in ("lost", "duplicate", "false", "false resolve", "misrouted", "model mismatch"):
        assert tallies[kind] == 0, kind
    assert tallies["wrong due date"] == 0

    # bounded: one clean run catches up, every later one is quiet (reminders aside)
    for late in facts[-(QUIET_RUNS - 1) :]:
        for channel, items in late.items.items():
            assert {kind for kind, _ in items} <= {"reminder", "overdue"}, (channel, items)
    last = facts[-1].summary
    assert last is not None and last["status"] == "ok" and last["problems"] == [] and last["errors"] == []
    assert tallies["delivered new"] > 0 and tallies["delivered resolved"] > 0
    assert tallies["delivered overdue"] > 0 or RUNS < 40
    assert tallies["clock paused by an exemption"] > 0 or RUNS < 20
    assert tallies["clock resumed, due moved"] > 0 or RUNS < 20
    assert tallies["resolved late"] > 0 or RUNS < 40
    assert tallies["delivered reminder"] > 0 or RUNS < 10
