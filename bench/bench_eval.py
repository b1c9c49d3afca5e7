"""Evaluating the shipped pack over 100,000 images: imagewatch vs Cloud Custodian's ``ValueFilter``
vs hand-written lambdas (the baseline of ``bench_policy.py``).

    python bench/bench_eval.py [--images N]

Each rule of the pack is also written as c7n ``ValueFilter``s, called the way c7n calls them on a
resource, ``.match(record)``, over the records as the API returns them (dicts, every field present).
c7n's ``and``/``not`` blocks are set operations over resource lists (``process``), so per image the
bench joins the filters' ``match`` results with Python's ``all``/``not`` instead — the cheapest way
the same ValueFilters can decide one image. Two rules need a translation, not a new operator:

* ``severity_level gte High`` (imagewatch ranks Security < Low < Medium < High, unknown counts as
  High): ValueFilter has no custom ordering, so it becomes ``not-in [Security, Low, Medium]``;
* ``latest_scan_time within 7d``: ValueFilter's ``value_type: age`` compares with the wall clock,
  and the bench's images are dated against a fixed ``now``, so it becomes ``gte <now − 7 days>``.

All three sides must find the same number of matches per rule, or the bench stops. The fleet rule
(a ratio over the whole fleet) has no ValueFilter form; it is left out of the comparison, as in
``bench_policy.py``'s predicates-only figures.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_policy import DAY, HAND, NOW, synthetic_images

from imagewatch.hss.model import IMAGE_FIELDS, Image
from imagewatch.policy import load_policies
from support import ROOT, best_in_turns

CUTOFF_7D = NOW - 7 * DAY
RUNS = 7  # best of 7, the three sides in turn: with 3 in a row, the c7n ratio moved from 6.0x to 7.6x
Record = dict[str, Any]


def value(key: str, op: str, operand: object) -> Any:
    from c7n.filters.core import ValueFilter

    return ValueFilter({"type": "value", "key": key, "op": op, "value": operand}).validate()


def c7n_rules() -> dict[str, Callable[[Record], bool]]:
    """The shipped pack as ValueFilters (see the module docstring for the two translations)."""
    success = value("scan_status", "eq", "success")
    high = value("severity_level", "not-in", ["Security", "Low", "Medium"])
    medium = value("severity_level", "eq", "Medium")
    over_20 = value("vul_num", "gt", 20)
    malicious = value("malicious_file_num", "gt", 0)
    unsafe = value("unsafe_setting_num", "gt", 0)
    failed = value("scan_status", "eq", "failed")
    fresh = value("latest_scan_time", "gte", CUTOFF_7D)
    not_swr = value("local_image_type", "ne", "swr_image")
    security = value("severity_level", "eq", "Security")
    return {
        "high-severity": lambda r: success.match(r) and high.match(r),
        "medium-severity-vulns": lambda r: success.match(r) and medium.match(r) and over_20.match(r),
        "malicious-files": malicious.match,
        "unsafe-settings": unsafe.match,
        "scan-failed": failed.match,
        "scan-freshness": lambda r: not (success.match(r) and fresh.match(r)),
        "other-images-clean": lambda r: not_swr.match(r) and not (success.match(r) and security.match(r)),
    }


def api_record(image: Image) -> Record:
    """The record as ListImageLocal sends it: every documented field, null when unknown."""
    return {name: getattr(image, name) for name in IMAGE_FIELDS}


def count_each(items: list[Any], predicates: list[Callable[[Any], bool]]) -> list[int]:
    counts = [0] * len(predicates)
    for item in items:
        for n, predicate in enumerate(predicates):
            if predicate(item):
                counts[n] += 1
    return counts


@dataclass(frozen=True)
class EvalResult:
    images: int
    rules: int
    imagewatch_s: float
    c7n_s: float
    hand_s: float
    matches: int
    c7n_calls: int  # ValueFilter.match calls in one pass (the joins short-circuit)

    def ns(self, seconds: float) -> float:
        """Nanoseconds per image and rule."""
        return seconds / (self.images * self.rules) * 1e9


def run(images: int = 100_000, seed: int = 20261101) -> EvalResult:
    loaded = load_policies(ROOT / "policies")
    if loaded.errors:
        raise RuntimeError("\n".join(map(str, loaded.errors)))
    rules = [p for p in loaded.policies if not p.is_fleet]
    fleet = synthetic_images(images, seed)
    records = [api_record(image) for image in fleet]
    by_c7n = c7n_rules()
    ours = [p.where.bind(NOW) for p in rules]  # type: ignore[union-attr]
    theirs = [by_c7n[p.id] for p in rules]
    by_hand = [HAND[p.id][0] for p in rules]
    (t_ours, m_ours), (t_c7n, m_c7n), (t_hand, m_hand) = best_in_turns(
        RUNS,
        [
            lambda: count_each(fleet, ours),
            lambda: count_each(records, theirs),
            lambda: count_each(fleet, by_hand),
        ],
    )
    if not m_ours == m_c7n == m_hand:
        raise RuntimeError(f"matches differ per rule: imagewatch {m_ours}, c7n {m_c7n}, by hand {m_hand}")
    calls = match_calls(records, [p.id for p in rules])
    return EvalResult(len(fleet), len(rules), t_ours, t_c7n, t_hand, sum(m_ours), calls)


def match_calls(records: list[Record], rule_ids: list[str]) -> int:
    """How many ``ValueFilter.match`` calls one pass makes (counted apart from the timed passes)."""
    from c7n.filters.core import ValueFilter

    calls = 0
    original = ValueFilter.match

    def counting(self: Any, resource: Record) -> bool:
        nonlocal calls
        calls += 1
        return original(self, resource)

    ValueFilter.match = counting  # type: ignore[method-assign]
    try:
        rules = c7n_rules()  # built after the patch: some rules are bound methods
        count_each(records, [rules[rule_id] for rule_id in rule_ids])
    finally:
        ValueFilter.match = original  # type: ignore[method-assign]
    return calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    result = run(parser.parse_args().images)
    print(
        f"{result.images} images x {result.rules} image rules; {result.matches} matches, same on every side"
    )
    for name, seconds in (("imagewatch", result.imagewatch_s), ("c7n ValueFilter", result.c7n_s),
                          ("hand-written", result.hand_s)):  # fmt: skip
        print(f"  {name:16} {seconds * 1000:8.1f} ms  {result.ns(seconds):6.0f} ns per image x rule")
    per_call = result.c7n_s / result.c7n_calls * 1e9
    calls = result.c7n_calls / result.images
    print(f"  ({calls:.1f} ValueFilter.match calls per image, {per_call:.0f} ns each)")
    print(f"  c7n / imagewatch {result.c7n_s / result.imagewatch_s:.2f}x;", end=" ")
    print(f"imagewatch / hand {result.imagewatch_s / result.hand_s:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
