"""Digests for channel tests: 500 violations of mixed severity with long and hostile names."""

from __future__ import annotations

from msgspec import structs

from imagewatch.alerts.digest import Digest, DigestItem, build_digest
from imagewatch.violation import SEVERITIES, SEVERITY_ORDER

HOSTILE = (
    "<!channel> @everyone @here <@123456789012345678> <@&876543210987654321> "
    "<at id=all></at> <at>Boss</at> @all @13800001111 <@wangqing> <users/all> "
    "[click](https://evil.example/x) ![img](https://evil.example/i.png) <b>bold</b> "
    '<font color="warning">fake</font> *stars* `code` \x00\x07\x1b[31m\u202e\u2066 end'
)
KINDS = ("new", "reminder", "resolved")


def item(i: int, label: str | None = None, kind: str = "new") -> DigestItem:
    severity = SEVERITIES[i % len(SEVERITIES)]
    name = label if label is not None else f"registry.example/team-{i}/service-{i}:1.{i}.0 on host-{i % 40}"
    return DigestItem(
        kind=kind,
        severity=severity,
        policy_id=f"pol-{i % 7}",
        policy_title=f"Policy {i % 7}: no critical CVEs older than 30 days",
        label=name,
        message=f"{name}: {3 + i % 9} critical CVEs open for {30 + i % 60} days (CVE-2026-{1000 + i})",
        fingerprint=f"{i:020x}",
        examples=(f"example-{i}-a", f"example-{i}-b") if i % 50 == 0 else (),
    )


def big_digest(count: int = 500, *, mentions: tuple[str, ...] = (), hostile_every: int = 25) -> Digest:
    """``count`` items, every ``hostile_every``-th with a hostile name, one with a 10 KB name."""
    items = []
    for i in range(count):
        label = None
        if i % hostile_every == 3:
            label = f"{HOSTILE} #{i}"
        if i == 7:
            label = "x" * 10_240
        items.append(item(i, label, KINDS[i % 11 % 3] if i % 11 < 3 else "new"))
    return digest_of(items, mentions=mentions)


def hostile_digest(mentions: tuple[str, ...] = ()) -> Digest:
    """Hostile text everywhere untrusted text can be: label, message, problems, notes, target."""
    items = [item(0, HOSTILE), item(1, "y" * 10_240), item(2, "n\x00u\x1bl\u202el")]
    return digest_of(
        items,
        target=f"cn-north-4/{HOSTILE}",
        problems=(f"incomplete read: {HOSTILE}",),
        notes=(f"exemption for {HOSTILE} expires soon",),
        mentions=mentions,
    )


def digest_of(
    items: list[DigestItem],
    *,
    target: str = "cn-north-4/project-a/cluster-prod",
    problems: tuple[str, ...] = ("incomplete read: page 3 of images failed after 6 tries",),
    notes: tuple[str, ...] = ("exemption ex-12 for pol-3 expires in 2 days",),
    mentions: tuple[str, ...] = (),
    report_url: str | None = "https://reports.example/run-1/report.html?X-Sig=abc(1)",
) -> Digest:
    ordered = sorted(items, key=DigestItem.sort_key)
    digest = build_digest(
        [],
        target=target,
        run_id="run-2026-11-26T08:00Z",
        generated_at="2026-11-26T08:00:00Z",
        titles={},
        open_by_severity={sev: 100 for sev in SEVERITIES},
        problems=problems,
        notes=notes,
        mentions=mentions,
        report_url=report_url,
    )
    counts: dict[str, int] = {}
    for entry in ordered:
        counts[entry.kind] = counts.get(entry.kind, 0) + 1
    return structs.replace(digest, items=tuple(ordered), counts=counts)


def worst_first(severities: list[str]) -> bool:
    ranks = [SEVERITY_ORDER[sev] for sev in severities]
    return ranks == sorted(ranks)


def wordy_digest(count: int = 500, *, multibyte: bool = False) -> Digest:
    """Long names (and, with ``multibyte``, 3-byte characters): byte budgets bind, not item caps."""
    stem = "华北四区生产集群镜像仓库" if multibyte else "registry.example/platform-team/"
    items = [item(i, f"{stem * 40}"[:500] + f"-{i}") for i in range(count)]
    return digest_of(items)
