"""``Policy``: one loaded, checked and compiled policy, ready to evaluate; ``LoadResult``: a load."""

from __future__ import annotations

from msgspec import Struct, field

from imagewatch.hss.query import ImageQuery
from imagewatch.policy.compile import CompiledCondition
from imagewatch.policy.errors import PolicyError
from imagewatch.policy.example_cases import Example
from imagewatch.policy.exemptions import Exemption
from imagewatch.policy.fleet import FleetRule
from imagewatch.policy.render import ViolationBuilder
from imagewatch.policy.template import Template
from imagewatch.violation import Severity, SubjectKind


class Policy(Struct, frozen=True, eq=False):
    """A policy: an image rule (``where``) or a fleet rule (``fleet``), never both."""

    id: str
    title: str
    severity: Severity
    description: str
    select: ImageQuery  # the ListImageLocal filters pushed down (an empty query: all images)
    where: CompiledCondition | None  # image rules: an image matching it violates the policy
    fleet: FleetRule | None  # fleet rules: the requirement the inventory must meet
    message: Template
    exemptions: tuple[Exemption, ...]
    examples: tuple[Example, ...]
    source: str  # the file it came from
    sha256: str  # of its canonical JSON (sorted keys, no whitespace, "$schema" left out)
    report_fields: tuple[str, ...] = ()  # the fields a violation carries
    violation: ViolationBuilder | None = None  # image rules: image -> Violation
    labels: tuple[tuple[str, str], ...] = ()  # routing labels, e.g. (("team", "payments"),)
    # what one violation is: "image" (all records of one image), "record" (an image on one host),
    # "fleet" for fleet rules; the ``kind`` of every violation the policy raises
    subject: SubjectKind = "image"
    # its own SLA (the "sla" field), overriding its severity's: ``sla_set`` and the time to fix in ms
    # (None with ``sla_set``: "none", no clock); see imagewatch.sla
    sla_set: bool = False
    sla_ms: int | None = None

    @property
    def is_fleet(self) -> bool:
        return self.fleet is not None


class LoadResult(Struct):
    """The valid policies, the errors that kept others out, and non-fatal warnings."""

    policies: list[Policy] = field(default_factory=list)
    errors: list[PolicyError] = field(default_factory=list)
    warnings: list[PolicyError] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors
