"""A deterministic synthetic fleet, generated record by record from (seed, index).

Nothing is held per record, so a fleet of 1,000,000 images costs no memory until a filtered listing
caches its matching indices. The layout makes the common questions cheap:

* Records come in blocks of ``BLOCK`` (16). A block is split into image groups of 1..6 records: one
  image (same image_id, digest, name, version, scan results) on 1..6 distinct hosts.
* Hosts belong to enterprise projects by ``host % len(cycle)``; block ``b`` takes its hosts from the
  project ``cycle[b % len(cycle)]``. So "every record of one enterprise project" is an arithmetic view
  (``EnterpriseView``), and the default listing (project "0") pages a million records without a scan.

Spreads aim at what a real account shows: most images scanned successfully, a long tail of
vulnerability counts, severities skewed to Low/Medium, a few malicious files, scan times both fresh and
stale relative to ``now_ms``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, overload

from imagewatch.emulator.entries import DEFAULT_ENTERPRISE_PROJECT, Entry, Relations

BLOCK = 16
MAX_GROUP = 6
DAY_MS = 86_400_000

# Enterprise projects of the default synthetic fleet: 6 blocks in 10 belong to the default project "0".
EP_PLATFORM = "4f1c6a2e-9b7d-4c3a-8e15-2d6b0f9a7c31"
EP_FINANCE = "b83e0d57-2c41-4f9e-a6d2-71c5e8f3094b"
DEFAULT_EP_CYCLE: tuple[str, ...] = (
    "0",
    EP_PLATFORM,
    "0",
    "0",
    EP_FINANCE,
    "0",
    EP_PLATFORM,
    "0",
    "0",
    EP_FINANCE,
)

SCAN_FAILED_DESCS = (
    "unknown_error",
    "failed_to_match_agent",
    "create_container_failed",
    "get_container_info_failed",
    "docker_offline",
    "get_docker_root_failed",
    "image_not_exist_or_docker_api_fault",
    "huge_image",
    "docker_root_in_nfs",
    "response_timed_out",
)
_SCAN_STATUS = (("success", 75), ("unscan", 7), ("failed", 7), ("scanning", 4), ("waiting", 7))
_GROUP_SIZES = ((1, 30), (2, 25), (3, 20), (4, 12), (5, 8), (6, 5))
_SWR_NAMESPACES = ("payments", "platform", "data", "web", "ops", "ml")
_SWR_APPS = (
    "checkout-api", "order-service", "billing-worker", "auth-gateway", "catalog", "search-indexer",
    "report-builder", "notification-hub", "etl-runner", "feature-store", "frontend", "admin-portal",
)  # fmt: skip
_PUBLIC_IMAGES = (
    "nginx", "redis", "mysql", "postgres", "python", "node", "openjdk", "busybox", "alpine", "ubuntu",
    "centos", "golang", "httpd", "mongo", "rabbitmq", "elasticsearch", "kafka", "zookeeper", "etcd",
    "coredns", "kube-proxy", "pause", "prometheus", "grafana", "fluent-bit", "memcached", "tomcat",
)  # fmt: skip
_SOFTWARE = (
    "openssl", "glibc", "bash", "curl", "zlib", "libxml2", "sqlite", "perl", "python3", "nodejs",
    "openjdk", "log4j-core", "spring-core", "jackson-databind", "openssh", "sudo", "tzdata", "busybox",
    "nginx", "libpng", "expat", "ncurses", "gnutls", "krb5", "libssh2",
)  # fmt: skip
_HOST_KINDS = (("cce-node", 50), ("ecs-app", 35), ("bms-db", 15))


def seeded(*parts: object) -> random.Random:
    """A generator seeded by ``parts``: reproducible synthetic data, never used for secrets."""
    return random.Random("/".join(str(part) for part in parts))  # noqa: S311 - determinism is the point


def _weighted(rng: random.Random, table: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([value for value, _ in table], [weight for _, weight in table])[0]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _hex(rng: random.Random, nbytes: int) -> str:
    return f"{rng.getrandbits(nbytes * 8):0{nbytes * 2}x}"


@lru_cache(maxsize=8192)
def _partition(seed: int, block: int) -> tuple[tuple[int, int], ...]:
    """For each position of a block: (group number, slot of the record within its group)."""
    rng = seeded(seed, "block", block)
    slots: list[tuple[int, int]] = []
    group = 0
    while len(slots) < BLOCK:
        size = min(_weighted(rng, _GROUP_SIZES), BLOCK - len(slots))
        slots.extend((group, slot) for slot in range(size))
        group += 1
    return tuple(slots)


class EnterpriseView(Sequence[int]):
    """The ascending indices of the records of one enterprise project, computed, never stored."""

    def __init__(self, size: int, cycle_slots: Sequence[int], cycle: int) -> None:
        self._size = size
        self._slots = tuple(cycle_slots)
        self._cycle = cycle
        per_cycle = len(self._slots) * BLOCK
        full = size // (cycle * BLOCK)
        tail = sum(min(BLOCK, max(0, size - (full * cycle + s) * BLOCK)) for s in self._slots)
        self._per_cycle = per_cycle
        self._len = full * per_cycle + tail

    def __len__(self) -> int:
        return self._len

    def _at(self, position: int) -> int:
        if not 0 <= position < self._len:
            raise IndexError(position)
        cycle, rest = divmod(position, self._per_cycle)
        slot, within = divmod(rest, BLOCK)
        return (cycle * self._cycle + self._slots[slot]) * BLOCK + within

    @overload
    def __getitem__(self, position: int) -> int: ...

    @overload
    def __getitem__(self, position: slice) -> list[int]: ...

    def __getitem__(self, position: int | slice) -> int | list[int]:
        if isinstance(position, slice):
            return [self._at(p) for p in range(*position.indices(self._len))]
        return self._at(position + self._len if position < 0 else position)

    def __iter__(self) -> Iterator[int]:
        return (self._at(p) for p in range(self._len))


class SyntheticSource:
    """``size`` records generated from ``seed``; timestamps relative to ``now_ms``."""

    def __init__(
        self,
        size: int,
        seed: int = 0,
        now_ms: int = 0,
        enterprise_projects: Sequence[str] = DEFAULT_EP_CYCLE,
    ) -> None:
        if size < 0:
            raise ValueError(f"synthetic fleet size: got {size}, expected ≥ 0")
        if not enterprise_projects:
            raise ValueError("synthetic fleet enterprise_projects: expected at least one project id")
        self.size = size
        self.seed = seed
        self.now_ms = now_ms
        self.cycle = tuple(enterprise_projects)
        per_cycle = len(self.cycle)
        self.hosts = per_cycle * max(MAX_GROUP, -(-size // (20 * per_cycle)))  # about 20 images per host
        self._pools = {ep: [s for s, e in enumerate(self.cycle) if e == ep] for ep in set(self.cycle)}

    def __len__(self) -> int:
        return self.size

    # -- enterprise projects -------------------------------------------------------------------

    def candidates(self, enterprise_project_id: str | None) -> tuple[Sequence[int], bool]:
        if enterprise_project_id is None:
            return range(self.size), True
        slots = self._pools.get(enterprise_project_id, [])
        return EnterpriseView(self.size, slots, len(self.cycle)), True

    def _pool_host(self, ep: str, member: int) -> int:
        """The ``member``-th host of project ``ep``."""
        slots = self._pools[ep]
        turn, slot = divmod(member, len(slots))
        return turn * len(self.cycle) + slots[slot]

    def _pool_size(self, ep: str) -> int:
        return (self.hosts // len(self.cycle)) * len(self._pools[ep])

    # -- records ---------------------------------------------------------------------------------

    def entry(self, index: int) -> Entry:
        return Entry(self.record(index), self.relations(index))

    def _host_of(self, index: int) -> tuple[int, int]:
        """(host number, group size) of the record at ``index``."""
        block, position = divmod(index, BLOCK)
        partition = _partition(self.seed, block)
        group, slot = partition[position]
        size = sum(1 for g, _ in partition if g == group)
        ep = self.cycle[block % len(self.cycle)]
        start = int(self._image(block, group)["_host_start"])
        return self._pool_host(ep, (start + slot) % self._pool_size(ep)), size

    @lru_cache(maxsize=4096)  # noqa: B019 - bounded; sources live as long as their fleet
    def _image(self, block: int, group: int) -> Mapping[str, Any]:
        """What all records of one image group share: identity, content and scan results."""
        rng = seeded(self.seed, "image", block, group)
        swr = rng.random() < 0.6
        if swr:
            name = f"{rng.choice(_SWR_NAMESPACES)}/{rng.choice(_SWR_APPS)}"
            version = rng.choice((f"v{rng.randint(1, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}", "latest"))
        else:
            name = rng.choice(_PUBLIC_IMAGES)
            version = rng.choice((f"{rng.randint(1, 16)}.{rng.randint(0, 12)}", "latest", "stable", "alpine"))
        update = self.now_ms - rng.randint(DAY_MS, 720 * DAY_MS)
        status = _weighted(rng, _SCAN_STATUS)
        scanned = status in ("success", "failed") or (status == "scanning" and rng.random() < 0.5)
        scan_time = 0
        if scanned:
            ago = rng.randint(0, 7 * DAY_MS) if rng.random() < 0.6 else rng.randint(30 * DAY_MS, 400 * DAY_MS)
            scan_time = min(self.now_ms, max(update + 60_000, self.now_ms - ago))
        success = status == "success"
        vul = 0 if not success or rng.random() < 0.35 else min(3000, int(rng.paretovariate(1.1) * 3))
        if not success:
            severity = ""
        elif vul == 0:
            severity = "Security"
        elif vul > 100 and rng.random() < 0.5:
            severity = "High"
        else:
            severity = _weighted(rng, (("Low", 45), ("Medium", 40), ("High", 15)))
        return {
            "image_name": name,
            "image_id": _uuid(rng),
            "image_digest": f"sha256:{_hex(rng, 32)}",
            "image_version": version,
            "local_image_type": "swr_image" if swr else "other_image",
            "scan_status": status,
            "image_size": min(8 << 30, max(2 << 20, int(rng.lognormvariate(18.8, 1.0)))),
            "latest_update_time": update,
            "latest_scan_time": scan_time,
            "vul_num": vul,
            "unsafe_setting_num": rng.randint(1, 15) if success and rng.random() < 0.12 else 0,
            "malicious_file_num": rng.randint(1, 3) if success and rng.random() < 0.015 else 0,
            "component_num": rng.randint(15, 900) if success else 0,
            "scan_failed_desc": rng.choice(SCAN_FAILED_DESCS) if status == "failed" else "",
            "severity_level": severity,
            "_apps": tuple(sorted(rng.sample(_SOFTWARE, rng.randint(3, 7)))),
            "_host_start": rng.randrange(self._pool_size(self.cycle[block % len(self.cycle)])),
        }

    @lru_cache(maxsize=4096)  # noqa: B019 - bounded; sources live as long as their fleet
    def _host(self, host: int) -> Mapping[str, Any]:
        rng = seeded(self.seed, "host", host)
        kind = _weighted(rng, _HOST_KINDS)
        ips = [f"10.{(host // 64000) % 256}.{(host // 250) % 256}.{host % 250 + 2}"]
        if rng.random() < 0.3:
            ips.append(f"121.36.{rng.randrange(256)}.{rng.randrange(1, 255)}")
        return {
            "host_name": f"{kind}-{host:05d}",
            "host_id": _uuid(rng),
            "agent_id": _hex(rng, 32),
            "kubernetes": kind == "cce-node",
            "ips": tuple(ips),
            "ep": self.cycle[host % len(self.cycle)],
        }

    def _containers(self, index: int) -> tuple[random.Random, int]:
        rng = seeded(self.seed, "record", index)
        count = 0 if rng.random() < 0.3 else min(12, int(rng.expovariate(0.4)) + 1)
        return rng, count

    def record(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.size:
            raise IndexError(index)
        block, position = divmod(index, BLOCK)
        group = _partition(self.seed, block)[position][0]
        image = self._image(block, group)
        host_number, host_num = self._host_of(index)
        host = self._host(host_number)
        _, containers = self._containers(index)
        record = {key: value for key, value in image.items() if not key.startswith("_")}
        record.update(
            host_num=host_num,
            container_num=containers,
            host_name=host["host_name"],
            host_id=host["host_id"],
            agent_id=host["agent_id"],
        )
        return record

    def relations(self, index: int) -> Relations:
        if not 0 <= index < self.size:
            raise IndexError(index)
        block, position = divmod(index, BLOCK)
        image = self._image(block, _partition(self.seed, block)[position][0])
        host = self._host(self._host_of(index)[0])
        rng, count = self._containers(index)
        app = str(image["image_name"]).rsplit("/", 1)[-1]
        containers: list[tuple[str, str]] = []
        pods: list[tuple[str, str]] = []
        for n in range(count):
            container_id = _hex(rng, 32)
            if host["kubernetes"]:
                pod_name = f"{app}-{_hex(rng, 5)[:10]}-{_hex(rng, 3)[:5]}"
                pods.append((_uuid(rng), pod_name))
                containers.append((container_id, f"k8s_{app}_{pod_name}_default_{n}"))
            else:
                containers.append((container_id, f"{app}-{n + 1}"))
        return Relations(
            enterprise_project_id=str(host["ep"]),
            host_ips=host["ips"],
            containers=tuple(containers),
            pods=tuple(pods),
            apps=image["_apps"],
        )


__all__ = [
    "BLOCK",
    "DEFAULT_ENTERPRISE_PROJECT",
    "DEFAULT_EP_CYCLE",
    "EP_FINANCE",
    "EP_PLATFORM",
    "SCAN_FAILED_DESCS",
    "EnterpriseView",
    "SyntheticSource",
]
