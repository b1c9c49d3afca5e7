"""Running policies' inline examples: each must reach its expected verdict, or we say why not.

Examples go through the real path — the same compiled predicates and the same Evaluator as a run —
at the example's fixed ``now``. An image the policy's ``select`` would not fetch (judged on the exact
filters, scan_status and local_image_type) passes, as it would in a run: that is how an unsafe
pushdown shows up in an example.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from msgspec import Struct

from imagewatch.policy.evaluate import Evaluator
from imagewatch.policy.example_cases import Example, Verdict
from imagewatch.policy.explain import explain
from imagewatch.policy.labels import count, image_label
from imagewatch.policy.loader import load_policies
from imagewatch.policy.model import Policy
from imagewatch.policy.pushdown import select_admits


class ExampleFailure(Struct, frozen=True):
    policy: Policy
    example: Example
    actual: Verdict
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        head = (
            f"FAIL {self.policy.source} {self.policy.id} {self.example.name}:"
            f" expected {self.example.expect}, got {self.actual}"
        )
        return "\n".join([head, *(f"  {reason}" for reason in self.reasons)])


def verdict(policy: Policy, example: Example) -> Verdict:
    """What ``policy`` decides about the example's image(s) at the example's ``now``."""
    evaluator = Evaluator([policy], example.now_ms)
    for image in example.images:
        if select_admits(policy.select, image)[0]:
            evaluator.add(image)
    result = evaluator.finish()
    if result.violations:
        return "violation"
    return "exempt" if result.exempted else "pass"


def _image_reasons(policy: Policy, example: Example) -> list[str]:
    image, now = example.images[0], example.now_ms
    admitted, why = select_admits(policy.select, image)
    if not admitted:
        return [f"not selected, so never evaluated: {why}"]
    if policy.where is None:
        return []
    matched, reasons = explain(policy.where.node, image, now)
    if not matched:
        return reasons
    for exemption in policy.exemptions:
        applies, why_exempt = explain(exemption.condition.node, image, now)
        if applies and not exemption.expired(now):
            return [*reasons, f"exempted by {exemption.describe()}", *why_exempt]
        if applies:
            reasons.append(f"{exemption.pointer} matches but expired (expires {exemption.expires})")
        else:
            reasons += [f"{exemption.pointer} does not apply:", *(f"  {line}" for line in why_exempt)]
    return reasons


def _fleet_reasons(policy: Policy, example: Example) -> list[str]:
    rule, now = policy.fleet, example.now_ms
    if rule is None:
        return []
    evaluator = Evaluator([policy], now)
    where, among = rule.where.bind(now), rule.among.bind(now) if rule.among else None
    counted, skipped = [], []
    for n, image in enumerate(example.images):
        admitted, why = select_admits(policy.select, image)
        if not admitted:
            skipped.append(f"image {n} ({image_label(image)}) not selected: {why}")
            continue
        evaluator.add(image)
        if (among is None or among(image)) and where(image):
            counted.append(f"#{n} {image_label(image)}")
    figure = evaluator.finish().fleet[0]
    shown = "not judged (no images)" if figure.figure is None else f"{figure.figure:g}"
    lines = [
        f"{figure.measure} = {shown} ({figure.count} of {figure.total}); requirement {figure.requirement}"
    ]
    where_at = f"/fleet/{rule.measure}/where"
    if counted:
        more = f" and {len(counted) - 10} more" if len(counted) > 10 else ""
        lines.append(f"images matching {where_at}: " + ", ".join(counted[:10]) + more)
    else:
        lines.append(f"no image matches {where_at}")
    return lines + skipped


def failures(policies: Sequence[Policy]) -> tuple[int, list[ExampleFailure]]:
    """(number of examples run, the ones that did not reach their expected verdict)."""
    total, failed = 0, []
    for policy in policies:
        for example in policy.examples:
            total += 1
            actual = verdict(policy, example)
            if actual != example.expect:
                reasons = (
                    _fleet_reasons(policy, example) if policy.is_fleet else _image_reasons(policy, example)
                )
                failed.append(ExampleFailure(policy, example, actual, tuple(reasons)))
    return total, failed


def run_examples_cli(paths: list[str], out: TextIO) -> int:
    """``imagewatch test [PATH…]``: run every example; 0 when all pass and every policy loads, 1 when an
    example fails, 2 when a policy does not load (a configuration error, as for ``validate``)."""
    loaded = load_policies(paths or ["policies"])
    for error in loaded.errors:
        print(error, file=out)
    total, failed = failures(loaded.policies)
    for failure in failed:
        print(failure, file=out)
    broken = f", {count(len(loaded.errors), 'load error')}" if loaded.errors else ""
    print(f"{count(total, 'example')}, {len(failed)} failed{broken}", file=out)
    from imagewatch.commands.exit_codes import ExitCode

    return int(ExitCode.CONFIG) if loaded.errors else 1 if failed else 0
