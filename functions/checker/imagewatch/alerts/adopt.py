"""Upgrading a ledger kept by record subjects: once per target, its entries become image entries.

Before issue 13 every violation was an image on one host (``image_id@host_id``). A policy that now
judges images would otherwise, on the first run after the upgrade, resolve every one of those
entries (announcing "resolved" for each) and open one new entry per image (announcing "new"): a flood
of noise about nothing that changed. Instead, the first run adopts them: every record entry of an
image policy is folded into the entry of its image (``fingerprint(policy, image_id)``), keeping the
earliest first-seen and, per channel, what that channel was told — so a channel told about any host
of an image is not told "new" again, and one told and still owed "resolved" still gets it. The record
entries are then forgotten without a word, and a marker says the target is done.

A record entry whose image part is not an ``image_id`` (HSS left it empty, and the old key fell back
to the digest or ``name:version``) cannot be matched to its new image key: its image is announced new
once, and the old entry retires quietly. docs/policies.md, "Upgrading from record subjects".
"""

from __future__ import annotations

from collections.abc import Collection

from msgspec import structs

from imagewatch.alerts.ledger import Delivery, LedgerEntry
from imagewatch.alerts.merge import Batch
from imagewatch.alerts.store import StateStore
from imagewatch.violation import fingerprint
from imagewatch.workspace import Workspace

MARKER = "subjects"
DONE = "images-adopted"


def adopt_record_entries(
    store: StateStore, target: str, image_policies: Collection[str], work: Workspace
) -> int:
    """Fold ``target``'s record entries of ``image_policies`` into image entries, once; returns how
    many record entries were adopted (0 when the target was done already or had none).

    Idempotent until the marker is set: the image entries are written before the record entries are
    forgotten, so a run that dies in between adopts the rest next time."""
    if store.marker(target, MARKER) == DONE:
        return 0
    with work.transaction():
        for entry in store.scan(target):
            if entry.policy_id in image_policies and "@" in entry.subject:
                work.fold(adopted_from(entry), entry.fingerprint, merge_adopted)
    adopted = work.folded_sources()
    if adopted:
        Batch(lambda entries: store.save(target, entries)).extend(work.folded())
        Batch(lambda fps: store.forget(target, fps)).extend(work.fold_sources())
    store.set_marker(target, MARKER, DONE)
    return adopted


def adopted_from(entry: LedgerEntry) -> LedgerEntry:
    """A record entry (``image@host``) as the entry of its image: the image's key and fingerprint, the
    label without its host; the rest as it was (``merge_adopted`` folds the hosts together)."""
    image = entry.subject.rsplit("@", 1)[0]
    label = entry.label.rsplit(" on ", 1)[0]
    return structs.replace(
        entry, fingerprint=fingerprint(entry.policy_id, image), subject=image, label=label, deliveries={
            name: structs.replace(delivery) for name, delivery in entry.deliveries.items()
        }
    )  # fmt: skip


def merge_adopted(one: LedgerEntry, other: LedgerEntry) -> LedgerEntry:
    """Two hosts' entries of one image as one: open if either is; first seen at the earliest; each
    channel told "new" at the earliest, last told at the latest, and owed "resolved" if owed by either."""
    open_ = one.status == "open" or other.status == "open"
    deliveries: dict[str, Delivery] = {}
    for name in one.deliveries.keys() | other.deliveries.keys():
        a, b = one.deliveries.get(name), other.deliveries.get(name)
        if a is None or b is None:
            deliveries[name] = structs.replace(a or b)  # type: ignore[arg-type]
            continue
        owed = a.owes_resolved or b.owes_resolved
        deliveries[name] = Delivery(
            new_at=_earliest(a.new_at, b.new_at),
            last_sent_at=_latest(a.last_sent_at, b.last_sent_at),
            resolved_at=None if owed else _latest(a.resolved_at, b.resolved_at),
            attempted_at=_latest(a.attempted_at, b.attempted_at),
        )
    return structs.replace(
        one,
        status="open" if open_ else "resolved",
        first_seen=min(one.first_seen, other.first_seen),
        last_seen=max(one.last_seen, other.last_seen),
        resolved_at=None if open_ else _latest(one.resolved_at, other.resolved_at),
        deliveries=deliveries,
    )


def _earliest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)
