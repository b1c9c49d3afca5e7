"""Policy evaluation throughput: the shipped pack, compiled, against the same rules written by hand.

    python bench/bench_policy.py [--images N] [--seed S]

Builds N synthetic images (seeded, with realistic spreads), then measures, best of 3:

1. predicates only: each policy's compiled ``where`` against a hand-written lambda of the same rule;
2. the full path: ``Evaluator.add`` (exemptions, violations with rendered messages, fleet counter)
   against a hand-written loop doing the same work.

Figures are image×policy evaluations per second. Every image goes through every policy (as if all
shared one query); the two sides must find the same violations, or the bench stops.
"""

from __future__ import annotations

import argparse
import fnmatch
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "functions" / "checker"))

from imagewatch.hss.model import SEVERITY_RANK, Image  # noqa: E402
from imagewatch.policy import Evaluator, Policy, load_policies  # noqa: E402
from imagewatch.violation import Violation  # noqa: E402

NOW = 1_793_491_200_000  # 2026-11-01T00:00:00Z
DAY = 86_400_000


def weighted(rng: random.Random, table: dict) -> object:
    return rng.choices(list(table), weights=list(table.values()))[0]


def synthetic_images(count: int, seed: int) -> list[Image]:
    rng = random.Random(seed)
    repos = [f"team{t}/svc-{s}" for t in range(30) for s in range(10)] + ["vendor/billing-engine"] * 3
    hosts = [f"node-{n}" for n in range(2000)]
    failures = [
        "failed_to_match_agent",
        "docker_offline",
        "huge_image",
        "response_timed_out",
        "unknown_error",
    ]
    images = []
    for n in range(count):
        status = weighted(rng, {"success": 82, "unscan": 6, "waiting": 3, "scanning": 2, "failed": 7})
        level, vulns, scanned = None, None, 0
        if status == "success":
            level = weighted(rng, {"Security": 35, "Low": 25, "Medium": 25, "High": 13, "": 2})
            low, high = {
                "Security": (0, 0),
                "Low": (1, 10),
                "Medium": (5, 80),
                "High": (20, 300),
                "": (0, 50),
            }[level]
            vulns = rng.randint(low, high)
            scanned = NOW - rng.randint(0, 9 * DAY)
        elif status in ("scanning", "failed") and rng.random() < 0.5:
            scanned = NOW - rng.randint(5 * DAY, 60 * DAY)
        host = rng.choice(hosts)
        images.append(
            Image(
                image_name=rng.choice(repos),
                image_version=f"4.2.{rng.randint(0, 9)}"
                if rng.random() < 0.2
                else f"{rng.randint(1, 9)}.{rng.randint(0, 30)}",
                image_id=f"img-{n}",
                image_digest=f"sha256:{rng.getrandbits(128):032x}",
                local_image_type=weighted(rng, {"swr_image": 75, "other_image": 23, None: 2}),
                scan_status=status,
                image_size=rng.randint(5, 2000) * 1_000_000,
                latest_update_time=NOW - rng.randint(0, 400 * DAY),
                latest_scan_time=scanned,
                vul_num=vulns,
                unsafe_setting_num=rng.randint(1, 6) if rng.random() < 0.12 else 0,
                malicious_file_num=rng.randint(1, 3) if rng.random() < 0.003 else 0,
                host_num=1,
                container_num=rng.randint(0, 20),
                component_num=rng.randint(20, 600),
                scan_failed_desc=rng.choice(failures) if status == "failed" else None,
                severity_level=level,
                host_name=host,
                host_id=f"id-{host}",
                agent_id=f"agent-{host}",
            )
        )
    return images


RANK = SEVERITY_RANK.get
CUTOFF_7D = NOW - 7 * DAY
EXEMPT_VERSION = re.compile(fnmatch.translate("4.2.*")).match


def q(value: object) -> str:
    return "?" if value is None or value == "" else str(value)


def when(ms: int | None) -> str:
    if ms is None:
        return "?"
    return "never" if ms == 0 else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


# The shipped pack, by hand: each rule and its message as a Python programmer would write them.
HAND: dict[str, tuple[Callable[[Image], bool], Callable[[Image], str]]] = {
    "high-severity": (
        lambda i: i.scan_status == "success" and RANK(i.severity_level, 3) >= 3,
        lambda i: (
            f"{q(i.image_name)}:{q(i.image_version)} is rated {q(i.severity_level)}"
            f" with {q(i.vul_num)} vulnerabilities"
        ),
    ),
    "medium-severity-vulns": (
        lambda i: (
            i.scan_status == "success"
            and RANK(i.severity_level, 3) == 2
            and i.vul_num is not None
            and i.vul_num > 20
        ),
        lambda i: (
            f"{q(i.image_name)}:{q(i.image_version)} is rated Medium with"
            f" {q(i.vul_num)} vulnerabilities (more than 20)"
        ),
    ),
    "malicious-files": (
        lambda i: i.malicious_file_num is not None and i.malicious_file_num > 0,
        lambda i: (
            f"{q(i.image_name)}:{q(i.image_version)} contains {q(i.malicious_file_num)} malicious file(s)"
        ),
    ),
    "unsafe-settings": (
        lambda i: i.unsafe_setting_num is not None and i.unsafe_setting_num > 0,
        lambda i: f"{q(i.image_name)}:{q(i.image_version)} fails {q(i.unsafe_setting_num)} baseline check(s)",
    ),
    "scan-failed": (
        lambda i: i.scan_status == "failed",
        lambda i: (
            f"Scan of {q(i.image_name)}:{q(i.image_version)} on {q(i.host_name)} failed:"
            f" {q(i.scan_failed_desc)}"
        ),
    ),
    "scan-freshness": (
        lambda i: not (i.scan_status == "success" and i.latest_scan_time and i.latest_scan_time >= CUTOFF_7D),
        lambda i: (
            f"{q(i.image_name)}:{q(i.image_version)} has no successful scan in the last"
            f" 7 days (status {q(i.scan_status)}, last scan {when(i.latest_scan_time)})"
        ),
    ),
    "other-images-clean": (
        lambda i: (
            i.local_image_type != "swr_image"
            and not (i.scan_status == "success" and RANK(i.severity_level, 3) == 0)
        ),
        lambda i: (
            f"{q(i.image_name)}:{q(i.image_version)} is not from SWR and not clean"
            f" (scan {q(i.scan_status)}, severity {q(i.severity_level)})"
        ),
    ),
}


def hand_full(images: list[Image], policies: dict[str, Policy]) -> tuple[list[Violation], int]:
    """The full path by hand: rules, the one exemption, violations with messages, the fleet counter."""
    rules = [(policy_id, rule, message, policies[policy_id]) for policy_id, (rule, message) in HAND.items()]
    violations: list[Violation] = []
    unscanned = 0
    for image in images:
        for policy_id, rule, message, policy in rules:
            if rule(image):
                if (
                    policy_id == "high-severity"
                    and image.image_name == "vendor/billing-engine"
                    and image.image_version is not None
                    and EXEMPT_VERSION(image.image_version)
                ):
                    continue
                name = f"{image.image_name or '?'}:{image.image_version or '?'}"
                if policy.subject == "record":  # scan-failed: one image on one host
                    subject, label = image.identity, f"{name} on {image.host_name or image.host_id or '?'}"
                else:  # an image, all its hosts together (the run adds them to the label)
                    key = f"{image.image_name or ''}:{image.image_version or ''}@{image.image_digest or ''}"
                    subject, label = image.image_id or key, name
                violations.append(
                    Violation(
                        policy_id,
                        policy.title,
                        policy.severity,
                        subject,
                        label,
                        message(image),
                        {},
                        kind=policy.subject,
                        host=image.host_id or "",
                        host_name=image.host_name or "",
                    )
                )
        if image.scan_status != "success":
            unscanned += 1
    violations.sort(key=Violation.sort_key)
    return violations, unscanned


def best_of(runs: int, work: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def count_matches(images: list[Image], predicates: list[Callable[[Image], bool]]) -> int:
    found = 0
    for image in images:
        for predicate in predicates:
            if predicate(image):
                found += 1
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261101)
    args = parser.parse_args()

    loaded = load_policies(ROOT / "policies")
    if loaded.errors:
        print("\n".join(map(str, loaded.errors)))
        return 1
    image_rules = [p for p in loaded.policies if not p.is_fleet]
    if sorted(p.id for p in image_rules) != sorted(HAND):
        print("the hand-written baseline must mirror the shipped pack")
        return 1
    images = synthetic_images(args.images, args.seed)
    n_images, n_policies = len(images), len(loaded.policies)

    compiled = [p.where.bind(NOW) for p in image_rules]  # type: ignore[union-attr]
    by_hand = [HAND[p.id][0] for p in image_rules]
    t_compiled, m_compiled = best_of(3, lambda: count_matches(images, compiled))
    t_hand, m_hand = best_of(3, lambda: count_matches(images, by_hand))
    if m_compiled != m_hand:
        print(f"mismatch: compiled found {m_compiled} matches, hand-written {m_hand}")
        return 1

    def evaluator_run() -> tuple[list[Violation], int]:
        evaluator = Evaluator(loaded.policies, NOW)
        for image in images:
            evaluator.add(image)
        result = evaluator.finish()
        return [v for v in result.violations if v.subject != "fleet"], result.fleet[0].count

    t_eval, (v_eval, u_eval) = best_of(3, evaluator_run)  # type: ignore[misc]
    by_id = {p.id: p for p in loaded.policies}
    t_full, (v_full, u_full) = best_of(3, lambda: hand_full(images, by_id))  # type: ignore[misc]
    seen = [(v.policy_id, v.subject, v.label, v.message) for v in v_eval]
    if seen != [(v.policy_id, v.subject, v.label, v.message) for v in v_full] or u_eval != u_full:
        print(f"mismatch: evaluator {len(v_eval)} violations, {u_eval} unscanned;", end=" ")
        print(f"by hand {len(v_full)} violations, {u_full} unscanned")
        return 1

    def rate(evaluations: int, seconds: float) -> str:
        return f"{evaluations / seconds / 1e6:6.2f} M evaluations/s ({seconds * 1000:7.1f} ms)"

    predicates = n_images * len(image_rules)
    full = n_images * n_policies
    print(f"{n_images} synthetic images (seed {args.seed});", end=" ")
    print(f"{n_policies} shipped policies ({len(image_rules)} image rules)")
    print(f"{m_compiled} rule hits; {len(v_eval)} image violations", end=" ")
    print(f"(same messages both ways); {u_eval} images without a successful scan")
    print("predicates only, image x image-rule:")
    print(f"  compiled pack       {rate(predicates, t_compiled)}")
    print(f"  hand-written        {rate(predicates, t_hand)}")
    print(f"  ratio compiled/hand {t_hand / t_compiled:5.2f}x")
    print("full path (exemptions, violations with messages, fleet counter), image x policy:")
    print(f"  Evaluator           {rate(full, t_eval)}")
    print(f"  hand-written        {rate(full, t_full)}")
    print(f"  ratio Evaluator/hand {t_full / t_eval:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
