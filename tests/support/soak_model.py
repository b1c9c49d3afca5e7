"""An independent model of what each chat channel should have been told, for the fault soak.

The model never asks the product what it decided. It knows the fleet (what the emulator serves before
and after each run), which faults were injected (so which reads were complete, and which runs never
saved their reconciliation), and it reads what each stand-in *accepted* — per (channel, fingerprint,
event). From that it keeps:

* a **ledger**: per fingerprint open/closed and an episode number. A fingerprint opens when a run that
  saved its reconciliation found it; it closes only in such a run whose read was complete and did not
  find it (the documented rule, applied to facts the model owns);
* a **view** per (channel, fingerprint): what that channel has been told — open or closed, for which
  episode, and when last.

Every accepted item is judged against both, and counted: delivered, duplicate, expected re-send after an
injected crash, superseded, false. The end state (after the faults are cleared and the runs are quiet)
is judged for loss: every violation present and wanted is open in the channel's view, every one gone is
closed in it.

Two outcomes are counted apart and documented in docs/faults.md rather than called bugs of the model:

* **expected re-sends after an injected crash** — a digest the platform accepted while the run died
  before recording it is sent again (the design is at-least-once, with a window of milliseconds);
* **superseded resolved notices** — a violation resolved while a channel was down, and back before the
  channel recovered: the channel gets a second "new" for the new episode instead of "resolved" + "new"
  (or, when the new episode ended too, one "resolved" that closes what it was told).

SLA clocks (``SLA``, ``SLA_SETTING``: hours, so the soak's days see them): an entry is due its
severity's time to fix after the run that opened it; an ``overdue`` item is judged like a reminder —
only for an open episode the channel was told, only past due, and once per episode (a second is a
duplicate); at the end every open, overdue, wanted entry must have been said overdue to the channel.
The summary's ``overdue`` count is checked against the model's.

Exemptions (``Exemption``, written into the policy files between runs, each lapsing at a stated
moment): a breaking record an active exemption covers (``at < expires``) is let pass. An open entry
whose subject is let pass (and not found through another record) is **paused**: no channel may hear
anything about it (new, reminder or overdue are false), it is not overdue, it is counted as
``exempted_open``, and its exemption never resolves it. Found again after the exemption lapsed, its
clock resumes where it stood: the model moves its due time by the time paused. A complete read that
neither finds nor exempts it resolves it (the pause up to then moves its due time too). The run
report's ``due_at`` of every current violation and of every resolved row, and ``within_sla`` of each
resolved row, are checked against the model's due times.

And one tally that must stay 0: **resolved lost after an injected crash** — a "new" the platform
accepted in a crashed run, whose violation then cleared, never followed by "resolved". The ledger's
mark before each send (``Delivery.attempted_at``) closes it; the tally guards that.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from support import reports

SOAK_REPORT = pytest.StashKey[list[str]]()  # lines the terminal summary prints (tests/faults/conftest.py)

HOUR = 3600.0
# policy id -> (severity, where, marker tag, record field, value that breaks it, value that is clean, subject)
POLICIES: dict[str, tuple[str, dict[str, Any], str, str, int, int, str]] = {
    "soak-critical": (
        "critical",
        {"field": "malicious_file_num", "op": "gt", "value": 0},
        "crit",
        "malicious_file_num",
        2,
        0,
        "record",
    ),
    "soak-high": ("high", {"field": "vul_num", "op": "gte", "value": 50}, "high", "vul_num", 75, 3, "image"),
    "soak-medium": (
        "medium",
        {"field": "unsafe_setting_num", "op": "gt", "value": 0},
        "med",
        "unsafe_setting_num",
        1,
        0,
        "image",
    ),
}
TAGS = {spec[2]: policy for policy, spec in POLICIES.items()}
# channel -> (platform, signed, min severity, policy globs, repeat interval)
CHANNELS: dict[str, tuple[str, bool, str, tuple[str, ...], str | None]] = {
    "everything": ("generic", True, "info", (), None),
    "critical": ("feishu", True, "critical", (), None),
    "ops": ("slack", False, "info", ("soak-high", "soak-medium"), "6h"),
    "pager": ("dingtalk", True, "high", (), None),
}
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
SLA_HOURS = {"critical": 12, "high": 30, "medium": None}  # the soak's SLA setting (medium: no clock)
SLA_SETTING = ",".join(f"{sev}={h}h" if h else f"{sev}=none" for sev, h in SLA_HOURS.items())
INTERVALS = {name: (6 * HOUR if spec[4] == "6h" else None) for name, spec in CHANNELS.items()}


@dataclass(frozen=True)
class Exemption:
    """One exemption the driver wrote into a policy's ``exempt`` list: an image (for a record rule, an
    image on one host) let pass while ``at < expires`` (run-clock seconds)."""

    policy: str
    image_id: str
    host_id: str | None
    expires: float

    def covers(self, policy: str, record: Mapping[str, Any], at: float) -> bool:
        return (
            policy == self.policy
            and at < self.expires
            and record["image_id"] == self.image_id
            and (self.host_id is None or record["host_id"] == self.host_id)
        )

    def document(self) -> dict[str, Any]:
        where: dict[str, Any] = {"field": "image_id", "op": "eq", "value": self.image_id}
        if self.host_id is not None:
            where = {"all": [where, {"field": "host_id", "op": "eq", "value": self.host_id}]}
        expires = datetime.fromtimestamp(self.expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"where": where, "reason": "soak: accepted for a while", "expires": expires}


def policy_document(policy_id: str, exemptions: Iterable[Exemption] = ()) -> dict[str, Any]:
    severity, where, tag, *_, kind = POLICIES[policy_id]
    host = "{host_id}" if kind == "record" else "*"  # an image violation is every host's
    document = {
        "id": policy_id,
        "title": f"Soak rule {tag}",
        "severity": severity,
        "subject": kind,
        "where": where,
        "message": f"soakmark-{tag} {{image_id}} on {host} .",
    }
    exempt = [exemption.document() for exemption in exemptions if exemption.policy == policy_id]
    if exempt:
        document["exempt"] = exempt
    return document


def channels_document() -> dict[str, Any]:
    channels = []
    for name, (platform, signed, floor, globs, repeat) in CHANNELS.items():
        channel: dict[str, Any] = {
            "name": name,
            "url": f"${{{name.upper()}_URL}}",
            "platform": platform,
            "min_severity": floor,
            "repeat_interval": repeat,
        }
        if signed:
            channel["secret"] = "${SOAK_SIGNING_SECRET}"
        if globs:
            channel["policies"] = list(globs)
        channels.append(channel)
    return {"channels": channels}


def wants(channel: str, policy_id: str) -> bool:
    _, _, floor, globs, _ = CHANNELS[channel]
    if SEVERITY_RANK[POLICIES[policy_id][0]] > SEVERITY_RANK[floor]:
        return False
    return not globs or policy_id in globs


def fingerprint(policy_id: str, subject: str) -> str:
    """docs/channels.md: the first 20 hex characters of SHA-256 over policy id, NUL, subject."""
    return hashlib.sha256(f"{policy_id}\0{subject}".encode()).hexdigest()[:20]


def identity(record: Mapping[str, Any]) -> str:
    return f"{record['image_id']}@{record['host_id']}"


def subject(policy_id: str, image_id: str, host_id: str) -> str:
    """What a violation of ``policy_id`` is about: the image (all its hosts), or one record."""
    return image_id if POLICIES[policy_id][6] == "image" else f"{image_id}@{host_id}"


def breaking_hosts(records: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """For image subjects: fingerprint -> the hosts whose record breaks the rule."""
    hosts: dict[str, set[str]] = {}
    for record in records:
        for policy, (_, where, _, name, _, _, kind) in POLICIES.items():
            value = record.get(name) or 0
            broken = value > where["value"] if where["op"] == "gt" else value >= where["value"]
            if broken and kind == "image":
                hosts.setdefault(fingerprint(policy, record["image_id"]), set()).add(record["host_id"])
    return hosts


def violations(records: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """fingerprint -> (policy, subject) for every rule the records break — by hand, not by the engine.
    An image subject is broken while any of the image's records breaks the rule."""
    return judge_read(records, (), 0.0)[0]


def judge_read(
    records: Iterable[Mapping[str, Any]], exemptions: Iterable[Exemption], at: float
) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """(found, exempted) for what a run at ``at`` read: a breaking record an active exemption covers is
    let pass (its fingerprint is exempted), any other makes its subject a violation (found)."""
    active = list(exemptions)
    found: dict[str, tuple[str, str]] = {}
    exempted: set[str] = set()
    for record in records:
        for policy, (_, where, _, name, _, _, _) in POLICIES.items():
            value = record.get(name) or 0
            broken = value > where["value"] if where["op"] == "gt" else value >= where["value"]
            if broken:
                about = subject(policy, record["image_id"], record["host_id"])
                if any(exemption.covers(policy, record, at) for exemption in active):
                    exempted.add(fingerprint(policy, about))
                else:
                    found[fingerprint(policy, about)] = (policy, about)
    return found, exempted


@dataclass
class Entry:
    """The model's ledger entry for one fingerprint."""

    policy: str
    open: bool  # not resolved (open, or paused by an exemption)
    episode: int
    due: float | None = None  # run-clock seconds (None: no clock), moved by every pause
    paused_since: float | None = None  # an exemption stopped its clock then (None: running)
    paused: float = 0.0  # seconds paused in closed pauses

    @property
    def exempted(self) -> bool:
        return self.open and self.paused_since is not None

    def overdue(self, at: float) -> bool:
        return self.open and self.paused_since is None and self.due is not None and at > self.due

    def resume(self, at: float) -> None:
        """The clock runs again where it stood: the due time moves by the time paused."""
        pause = at - (self.paused_since if self.paused_since is not None else at)
        self.paused += pause
        if self.due is not None:
            self.due += pause
        self.paused_since = None


@dataclass
class View:
    """What one channel has been told about one fingerprint."""

    open: bool
    episode: int
    last_at: float
    from_crash: bool = False  # the "new" that opened it came from a digest whose confirmation was lost
    overdue: bool = False  # told this episode became overdue


@dataclass
class RunFacts:
    """What the driver knows about one invocation, independently of the product."""

    at: float
    truth_before: dict[str, tuple[str, str]]
    truth_after: dict[str, tuple[str, str]]
    found: set[str]
    complete: bool
    saved: bool  # the reconciliation was written (no store failure before it, not skipped)
    summary: dict[str, Any] | None
    items: dict[str, set[tuple[str, str]]]  # channel -> {(kind, fingerprint)} it accepted this run
    crashed_after: str | None
    quiet: bool = False
    exempted: set[str] = field(default_factory=set)  # let pass by an active exemption (and not found)


@dataclass
class SoakModel:
    ledger: dict[str, Entry] = field(default_factory=dict)
    views: dict[tuple[str, str], View] = field(default_factory=dict)
    at_risk: set[tuple[str, str, str]] = field(default_factory=set)
    tallies: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    quiet_runs: int = 0

    def fail(self, kind: str, message: str) -> None:
        self.tallies[kind] += 1
        if len(self.problems) < 40:
            self.problems.append(f"{kind}: {message}")

    def observe(self, run: RunFacts, index: int) -> None:
        new, resolved = self._reconcile(run)
        summary = run.summary
        if run.saved and summary is not None and summary.get("status") != "skipped":
            said = (summary.get("new"), summary.get("resolved"), summary["violations"]["total"])
            if said != (new, resolved, len(run.found)):
                self.fail(
                    "model mismatch",
                    f"run {index}: product (new, resolved, total) {said}, "
                    f"model {(new, resolved, len(run.found))}",
                )
            late = sum(1 for entry in self.ledger.values() if entry.overdue(run.at))
            if summary.get("overdue", {}).get("total") != late:
                said_late = summary.get("overdue")
                self.fail("model mismatch", f"run {index}: product overdue {said_late}, model {late}")
            paused = sum(1 for entry in self.ledger.values() if entry.exempted)
            if summary.get("exempted_open") != paused:
                said = summary.get("exempted_open")
                self.fail("model mismatch", f"run {index}: product exempted_open {said}, model {paused}")
            self._judge_clocks(run, index, summary)
        for channel, items in run.items.items():
            order = ("new", "overdue", "reminder", "resolved")
            for kind, fp in sorted(items, key=lambda item: order.index(item[0])):
                self._judge(run, index, channel, kind, fp)
            if run.crashed_after == channel:
                self.at_risk |= {(channel, fp, kind) for kind, fp in items}
                for kind, fp in items:
                    if kind == "new":
                        self.views[(channel, fp)].from_crash = True

    def _reconcile(self, run: RunFacts) -> tuple[int, int]:
        if not run.saved:
            return 0, 0
        new = resolved = 0
        self.seen |= run.found
        for fp in run.found:
            entry = self.ledger.get(fp)
            if entry is None or not entry.open:
                policy = (run.truth_before.get(fp) or run.truth_after[fp])[0]
                hours = SLA_HOURS[POLICIES[policy][0]]
                due = run.at + hours * HOUR if hours else None
                self.ledger[fp] = Entry(policy, True, (entry.episode + 1) if entry else 1, due)
                new += 1
            elif entry.exempted:  # the exemption lapsed and it is still there
                self.tallies["clock resumed, due moved"] += 1
                entry.resume(run.at)
        for fp in run.exempted - run.found:
            entry = self.ledger.get(fp)
            if entry is not None and entry.open and not entry.exempted:  # never seen or resolved: no clock
                self.tallies["clock paused by an exemption"] += 1
                if entry.overdue(run.at):
                    self.tallies["clock paused while overdue"] += 1
                entry.paused_since = run.at
        if run.complete:
            for fp, entry in self.ledger.items():
                if entry.open and fp not in run.found and fp not in run.exempted:
                    if entry.exempted:
                        self.tallies["resolved while exempted"] += 1
                        entry.resume(run.at)
                    entry.open = False
                    resolved += 1
        return new, resolved

    def _judge_clocks(self, run: RunFacts, index: int, summary: Mapping[str, Any]) -> None:
        """The run report's due dates (and ``within_sla`` of what resolved) against the model's."""
        report = summary.get("report") or {}
        if not report.get("jsonl"):
            return
        for row in reports.rows(dict(summary)):
            fp, status = row["fingerprint"], row["status"]
            entry = self.ledger.get(fp)
            if entry is None:
                self.fail("wrong due date", f"run {index} {fp}: a report row the model never opened")
                continue
            due = None if entry.due is None else int(entry.due * 1000)
            where = f"run {index} {fp} ({status}, paused {entry.paused / HOUR:.0f} h)"
            if row.get("due_at") != due:
                self.fail("wrong due date", f"{where}: report due_at {row.get('due_at')}, model {due}")
            if status == "resolved":
                late = entry.due is not None and run.at > entry.due
                if row.get("within_sla") != (not late):
                    self.fail("wrong due date", f"{where}: within_sla {row.get('within_sla')}, late {late}")
                self.tallies["resolved late" if late else "resolved within SLA"] += 1

    def _judge(self, run: RunFacts, index: int, channel: str, kind: str, fp: str) -> None:
        self.tallies[f"delivered {kind}"] += 1
        entry = self.ledger.get(fp)
        where = f"run {index} {channel} {kind} {fp}"
        if entry is None:
            self.fail("false", f"{where}: never found by any run")
            return
        if not wants(channel, entry.policy):
            self.fail("misrouted", where)
        if entry.exempted and kind != "resolved":  # a resolved notice is judged below (false resolve)
            self.fail("false", f"{where}: an exemption stopped its clock: owed nothing")
            return
        view = self.views.get((channel, fp))
        risky = (channel, fp, kind) in self.at_risk
        self.at_risk.discard((channel, fp, kind))
        if kind == "new":
            if not entry.open:
                self.fail("false", f"{where}: the ledger has it closed")
            elif view is None or not view.open:
                if view is not None and view.episode == entry.episode and not risky:
                    self.fail("duplicate", f"{where}: new again after resolved, same episode")
            elif view.episode < entry.episode:  # it was resolved and is back: the channel missed that,
                # and hears ``new`` for this episode and ``resolved`` when it ends (crash or not)
                self.tallies["superseded resolved notice"] += 1
            elif risky:
                self.tallies["expected re-send after an injected crash"] += 1
            else:
                self.fail("duplicate", f"{where}: already told")
            self.views[(channel, fp)] = View(True, entry.episode, run.at)
        elif kind == "overdue":
            if view is None or not view.open or view.episode != entry.episode or not entry.overdue(run.at):
                self.fail("false", f"{where}: overdue outside an overdue episode this channel was told of")
            elif view.overdue and not risky:
                self.fail("duplicate", f"{where}: became overdue twice")
            elif view.overdue:
                self.tallies["expected re-send after an injected crash"] += 1
            elif entry.paused:
                self.tallies["overdue after a pause"] += 1
            if view is not None:
                view.last_at, view.from_crash, view.overdue = run.at, False, True
        elif kind == "reminder":
            interval = INTERVALS[channel]
            if interval is None or view is None or not view.open or view.episode != entry.episode:
                self.fail("false", f"{where}: a reminder outside an open episode this channel was told of")
            elif run.at - view.last_at < interval:
                if risky:
                    self.tallies["expected re-send after an injected crash"] += 1
                else:
                    self.fail("duplicate", f"{where}: {run.at - view.last_at:.0f} s after the last word")
            if view is not None:
                view.last_at, view.from_crash = run.at, False
        else:  # resolved
            if view is None or not view.open:
                if risky:
                    self.tallies["expected re-send after an injected crash"] += 1
                else:
                    self.fail("duplicate", f"{where}: not open in this channel's view")
                return
            if entry.open:
                self.fail("false resolve", f"{where}: the ledger (complete reads only) has it open")
            elif entry.episode > view.episode:  # it resolved, came back and resolved again meanwhile
                self.tallies["superseded resolved notice"] += 1
            view.open, view.last_at = False, run.at

    def finish(self, truth: Mapping[str, tuple[str, str]], end: float, step: float) -> None:
        """After the quiet runs: nothing owed may be missing from any channel's view."""
        for fp, entry in self.ledger.items():
            if entry.open != (fp in truth) or entry.exempted:  # every exemption lapsed before the end
                self.fail("model mismatch", f"{fp}: ledger open={entry.open}, present={fp in truth}")
        for channel in CHANNELS:
            for fp, (policy, _) in {**{f: (e.policy, "") for f, e in self.ledger.items()}, **truth}.items():
                if not wants(channel, policy):
                    continue
                view = self.views.get((channel, fp))
                if fp in truth:
                    if view is None or not view.open:
                        self.fail("lost", f"{channel} was never told {fp} ({policy}) is open")
                    elif self.ledger[fp].overdue(end - step) and not view.overdue:
                        self.fail("lost", f"{channel} was never told {fp} ({policy}) became overdue")
                    elif INTERVALS[channel] and end - view.last_at >= INTERVALS[channel] + step:
                        self.fail("lost", f"{channel}: no reminder for {fp} since {end - view.last_at:.0f} s")
                elif view is not None and view.open:
                    if view.from_crash:  # the mark before each send closed this: a loss now
                        self.tallies["resolved lost after an injected crash"] += 1
                        self.fail("lost", f"{channel} heard {fp} ({policy}) in a crashed run, never resolved")
                    else:
                        self.fail("lost", f"{channel} was never told {fp} ({policy}) resolved")
        self.tallies["violations tracked"] = len(self.seen)
        self.tallies["episodes"] = sum(entry.episode for entry in self.ledger.values())
