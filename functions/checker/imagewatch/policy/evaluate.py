"""Streaming evaluation: images in, one at a time; violations, exemption use and fleet figures out.

The per-image path is one compiled predicate call per image rule and per fleet counter; work beyond
the comparisons happens only for images that match (exemption checks, rendering the violation).
Nothing keeps the images: only violations, exemption use, fleet counters and a few example labels.
The clock is the ``now_ms`` given, never the system clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from msgspec import Struct, field

from imagewatch.hss.model import Image
from imagewatch.policy.exemptions import EXPIRING_WINDOW_MS, Exemption
from imagewatch.policy.fleet import EXAMPLES_CAP, FleetCounter, FleetFigure
from imagewatch.policy.labels import image_label
from imagewatch.policy.model import Policy
from imagewatch.violation import Violation

OnMatch = Callable[[Image], None]


class Exempted(Struct, frozen=True):
    """An image that broke a policy but was let pass by one of its exemptions."""

    policy_id: str
    subject: str
    label: str
    exemption: Exemption


class ExemptionReport(Struct, frozen=True):
    """An exemption worth telling people about, with the images it concerns in this run.

    For an expired exemption: the images it would still cover, now violations again.
    For one expiring soon: the images it covers now.
    """

    exemption: Exemption
    subjects: tuple[str, ...]


class EvaluationResult(Struct):
    """Everything one evaluation found; small (no images), ready for the ledger and the report."""

    now_ms: int
    images_seen: int
    violations: list[Violation] = field(default_factory=list)  # worst first (Violation.sort_key)
    exempted: list[Exempted] = field(default_factory=list)
    expired_exemptions: list[ExemptionReport] = field(default_factory=list)
    expiring_soon: list[ExemptionReport] = field(default_factory=list)  # within the window (14 days)
    fleet: list[FleetFigure] = field(default_factory=list)  # every fleet rule's figure, passed or not


def fleet_violation(policy: Policy, figure: FleetFigure, examples: Sequence[str]) -> Violation:
    """The one violation of a fleet rule whose requirement failed: subject ``fleet``, the figure inside."""
    fields = {
        "measure": figure.measure,
        "count": figure.count,
        "total": figure.total,
        "figure": figure.figure,
        "op": figure.op,
        "threshold": figure.threshold,
    }
    message = policy.message.render(figure.values().__getitem__)
    return Violation(
        policy.id, policy.title, policy.severity, "fleet", policy.title, message, fields, tuple(examples)
    )


def _key(exemption: Exemption) -> tuple[str, str]:
    return (exemption.policy_id, exemption.pointer)


class Evaluator:
    """Evaluates policies over a stream of images at one moment.

    Give it the policies of one query (the same ``select``) and feed it that query's images; the
    evaluator does not filter by ``select`` itself.
    """

    def __init__(
        self,
        policies: Iterable[Policy],
        now_ms: int,
        *,
        expiring_window_ms: int = EXPIRING_WINDOW_MS,
        fleet_examples: int = EXAMPLES_CAP,
    ) -> None:
        self.now_ms = now_ms
        self.images_seen = 0
        self._policies = list(policies)
        self._violations: list[Violation] = []
        self._exempted: list[Exempted] = []
        self._covered: dict[tuple[str, str], list[str]] = {}
        self._expired: list[Exemption] = []
        self._soon: list[Exemption] = []
        self._rules: list[tuple[Callable[[Image], bool], OnMatch]] = []
        self._counters: list[tuple[Policy, FleetCounter]] = []
        for policy in self._policies:
            if policy.fleet is not None:
                self._counters.append((policy, FleetCounter(policy.id, policy.fleet, now_ms, fleet_examples)))
            elif policy.where is not None:
                self._rules.append((policy.where.bind(now_ms), self._on_match(policy, expiring_window_ms)))

    def _on_match(self, policy: Policy, window_ms: int) -> OnMatch:
        """What happens when an image matches ``policy``'s where: exempt it, or record a violation."""
        now, violations = self.now_ms, self._violations
        build = policy.violation
        if build is None:
            raise ValueError(f"policy {policy.id} is not an image rule")
        active, expired = [], []
        for exemption in policy.exemptions:
            applies = exemption.condition.bind(now)
            if exemption.expired(now):
                self._expired.append(exemption)
                expired.append((applies, self._covered.setdefault(_key(exemption), [])))
            else:
                soon = exemption.expiring_soon(now, window_ms)
                if soon:
                    self._soon.append(exemption)
                active.append(
                    (exemption, applies, self._covered.setdefault(_key(exemption), []) if soon else None)
                )

        if not policy.exemptions:
            return lambda image: violations.append(build(image))

        def on_match(image: Image) -> None:
            for exemption, applies, covered in active:
                if applies(image):
                    self._exempted.append(Exempted(policy.id, image.identity, image_label(image), exemption))
                    if covered is not None:
                        covered.append(image.identity)
                    return
            for applies, covered in expired:
                if applies(image):
                    covered.append(image.identity)
            violations.append(build(image))

        return on_match

    def add(self, image: Image) -> None:
        """Evaluate one image against every policy; keeps nothing of the image but what it broke."""
        self.images_seen += 1
        for matches, on_match in self._rules:
            if matches(image):
                on_match(image)
        for _, counter in self._counters:
            counter.add(image)

    def finish(self) -> EvaluationResult:
        """The result so far: violations (image and fleet), exemption use, fleet figures."""
        violations = list(self._violations)
        figures = []
        for policy, counter in self._counters:
            figure = counter.figure()
            figures.append(figure)
            if not figure.passed:
                violations.append(fleet_violation(policy, figure, counter.examples))
        violations.sort(key=Violation.sort_key)

        def report(exemption: Exemption) -> ExemptionReport:
            return ExemptionReport(exemption, tuple(self._covered.get(_key(exemption), ())))

        return EvaluationResult(
            now_ms=self.now_ms,
            images_seen=self.images_seen,
            violations=violations,
            exempted=list(self._exempted),
            expired_exemptions=[report(exemption) for exemption in self._expired],
            expiring_soon=[report(exemption) for exemption in self._soon],
            fleet=figures,
        )
