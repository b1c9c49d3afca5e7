"""Streaming evaluation: images in, one at a time; violations, exemption use and fleet figures out.

The per-image path is one compiled predicate call per image rule and per fleet counter; work beyond
the comparisons happens only for images that match (exemption checks, rendering the violation).
Nothing keeps the images: only violations (or not even those, given a ``sink``), exemption use —
a count and at most ``SUBJECTS_CAP`` subjects per exemption, however many records it covers — fleet
counters and a few example labels. The clock is the ``now_ms`` given, never the system clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from msgspec import Struct, field

from imagewatch.hss.model import Image
from imagewatch.policy.exemptions import EXPIRING_WINDOW_MS, Exemption
from imagewatch.policy.fleet import EXAMPLES_CAP, FleetCounter, FleetFigure
from imagewatch.policy.labels import image_key, image_label, image_name
from imagewatch.policy.model import Policy
from imagewatch.violation import Violation, fingerprint

OnMatch = Callable[[Image], None]
Sink = Callable[[Violation], None]
ExemptSink = Callable[[str], None]  # the fingerprint of a subject an exemption let pass
SUBJECTS_CAP = 100  # subjects kept per exemption for reports; the count covers the rest


def _identity(image: Image) -> str:
    return image.identity


def subject_functions(policy: Policy) -> tuple[Callable[[Image], str], Callable[[Image], str]]:
    """(subject, label) of a record under ``policy``'s subject, as its violations name them."""
    if policy.subject == "record":
        return _identity, image_label
    return image_key, image_name


class Exempted(Struct, frozen=True):
    """A subject (per the policy's subject: an image, or a record) that broke a policy but was let pass
    by one of its exemptions; listed once per exemption, for at most ``SUBJECTS_CAP`` subjects."""

    policy_id: str
    subject: str
    label: str
    exemption: Exemption


class ExemptionReport(Struct, frozen=True):
    """An exemption worth telling people about, with the images it concerns in this run.

    For an expired exemption: the subjects it would still cover, now violations again.
    For one expiring soon: the subjects it covers now. ``subjects`` holds the first ``SUBJECTS_CAP``
    distinct ones; ``records`` counts every record it concerned (several per image subject).
    """

    exemption: Exemption
    subjects: tuple[str, ...]
    records: int = 0
    labels: tuple[str, ...] = ()  # each subject's label (``nginx:1.25``), in the order of ``subjects``


class EvaluationResult(Struct):
    """Everything one evaluation found; small (no images), ready for the ledger and the report."""

    now_ms: int
    images_seen: int
    # worst first (Violation.sort_key); with a sink, only the fleet rules' (image rules' went to the sink)
    violations: list[Violation] = field(default_factory=list)
    exempted: list[Exempted] = field(default_factory=list)  # distinct subjects, ≤ SUBJECTS_CAP per exemption
    exempted_count: int = 0  # records let pass by an exemption, all of them (one per record and policy)
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


class _Tally:
    """How many records one exemption concerned, and its first ``cap`` distinct subjects: bookkeeping
    that stays small when a blanket exemption covers a million records."""

    __slots__ = ("cap", "records", "subjects")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.records = 0
        self.subjects: dict[str, str] = {}  # subject → its label, first seen first

    def add(self, subject: str, label: str = "") -> bool:
        """Count one record; True when its subject is new and kept."""
        self.records += 1
        if len(self.subjects) >= self.cap or subject in self.subjects:
            return False
        self.subjects[subject] = label
        return True


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
        sink: Sink | None = None,
        subjects_cap: int = SUBJECTS_CAP,
        exempt_sink: ExemptSink | None = None,
    ) -> None:
        """``sink``: when given, each image rule's violation goes to it as found and is not kept, so a
        run never holds them all; ``finish()`` then returns only the fleet rules' violations.
        ``exempt_sink``: told the fingerprint of every subject an exemption lets pass (every time),
        so the ledger stops that violation's SLA clock instead of resolving it."""
        self._exempt_sink = exempt_sink
        self.now_ms = now_ms
        self.images_seen = 0
        self._policies = list(policies)
        self._violations: list[Violation] = []
        self._emit: Sink = sink if sink is not None else self._violations.append
        self._subjects_cap = subjects_cap
        self._exempted: list[Exempted] = []
        self._exempted_count = 0
        self._covered: dict[tuple[str, str], _Tally] = {}
        self._expired: list[Exemption] = []
        self._soon: list[Exemption] = []
        self._rules: list[tuple[Callable[[Image], bool], OnMatch]] = []
        self._counters: list[tuple[Policy, FleetCounter]] = []
        for policy in self._policies:
            if policy.fleet is not None:
                self._counters.append((policy, FleetCounter(policy.id, policy.fleet, now_ms, fleet_examples)))
            elif policy.where is not None:
                self._rules.append((policy.where.bind(now_ms), self._on_match(policy, expiring_window_ms)))

    def _tally(self, exemption: Exemption) -> _Tally:
        return self._covered.setdefault(_key(exemption), _Tally(self._subjects_cap))

    def _on_match(self, policy: Policy, window_ms: int) -> OnMatch:
        """What happens when an image matches ``policy``'s where: exempt it, or emit a violation."""
        now, emit = self.now_ms, self._emit
        build = policy.violation
        if build is None:
            raise ValueError(f"policy {policy.id} is not an image rule")
        if not policy.exemptions:
            return lambda image: emit(build(image))

        subject_of, label_of = subject_functions(policy)
        exempted = self._exempted
        exempt_sink, policy_id = self._exempt_sink, policy.id
        active, expired = [], []
        for exemption in policy.exemptions:
            applies = exemption.condition.bind(now)
            if exemption.expired(now):
                self._expired.append(exemption)
                expired.append((applies, self._tally(exemption)))
            else:
                soon = exemption.expiring_soon(now, window_ms)
                if soon:
                    self._soon.append(exemption)
                let_pass = _Tally(self._subjects_cap)  # subjects this exemption let pass, bounded
                active.append((exemption, applies, let_pass, self._tally(exemption) if soon else None))

        def on_match(image: Image) -> None:
            for exemption, applies, let_pass, covered in active:
                if applies(image):
                    self._exempted_count += 1
                    subject = subject_of(image)
                    if exempt_sink is not None:
                        exempt_sink(fingerprint(policy_id, subject))
                    if let_pass.add(subject):
                        exempted.append(Exempted(policy.id, subject, label_of(image), exemption))
                    if covered is not None:
                        covered.add(subject, label_of(image))
                    return
            for applies, covered in expired:
                if applies(image):
                    covered.add(subject_of(image), label_of(image))
            emit(build(image))

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
        """The result so far: violations (image rules' unless a sink took them, and fleet rules'),
        exemption use, fleet figures."""
        violations = list(self._violations)
        figures = []
        for policy, counter in self._counters:
            figure = counter.figure()
            figures.append(figure)
            if not figure.passed:
                violations.append(fleet_violation(policy, figure, counter.examples))
        violations.sort(key=Violation.sort_key)

        def report(exemption: Exemption) -> ExemptionReport:
            tally = self._covered.get(_key(exemption))
            if tally is None:
                return ExemptionReport(exemption, ())
            return ExemptionReport(
                exemption, tuple(tally.subjects), tally.records, tuple(tally.subjects.values())
            )

        return EvaluationResult(
            now_ms=self.now_ms,
            images_seen=self.images_seen,
            violations=violations,
            exempted=list(self._exempted),
            exempted_count=self._exempted_count,
            expired_exemptions=[report(exemption) for exemption in self._expired],
            expiring_soon=[report(exemption) for exemption in self._soon],
            fleet=figures,
        )
