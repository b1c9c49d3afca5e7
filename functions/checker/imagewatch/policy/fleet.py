"""Fleet rules: a policy that judges the inventory as a whole, by a count or a ratio of images.

``"fleet": {"ratio": {"where": C, "among": D}, "op": "lte", "value": 0.05}`` states the requirement:
the fleet passes while ``figure op value`` holds, and one violation (subject ``fleet``) is raised
when it does not. ``count`` is the number of images matching ``where`` (among those matching
``among``, when given); ``ratio`` divides it by the number of images matching ``among`` (or all).
A ratio over zero images is not judged: there is nothing to judge, and an empty inventory is the
run's concern (``images_seen``), not a compliance verdict.

Counting is streaming: two integers and a few example labels per rule, never the images.
"""

from __future__ import annotations

from typing import Literal

from msgspec import Struct

from imagewatch.hss.model import Image
from imagewatch.policy.compile import CompiledCondition, Predicate, compile_condition
from imagewatch.policy.conditions import ConditionReader, Problems
from imagewatch.policy.errors import child, got
from imagewatch.policy.labels import image_label
from imagewatch.policy.operators import OPERATOR_SYNONYMS, OPERATORS, THRESHOLD_OPERATORS, Operator

Measure = Literal["count", "ratio"]
FLEET_PLACEHOLDERS = ("count", "total", "ratio", "percent", "threshold")
EXAMPLES_CAP = 5
# a requirement in words: "must be at most 5%"
OP_WORDS = {
    "eq": "exactly",
    "ne": "other than",
    "lt": "under",
    "lte": "at most",
    "gt": "over",
    "gte": "at least",
}


def threshold_text(measure: Measure, threshold: int | float) -> str:
    """A threshold as people read it: a ratio's as a percentage (``0.01`` → ``1%``, ``0.075`` →
    ``7.5%``), a count's as the number. The policy file says ``0.01``; nobody else should have to."""
    if measure == "ratio":
        return f"{round(threshold * 100, 6):g}%"
    return str(threshold)


class FleetRule(Struct, frozen=True):
    measure: Measure
    where: CompiledCondition
    among: CompiledCondition | None
    op: Operator
    threshold: int | float

    @property
    def requirement(self) -> str:
        """E.g. ``ratio lte 5%``: what must hold for the fleet to pass."""
        return f"{self.measure} {self.op.name} {threshold_text(self.measure, self.threshold)}"


class FleetFigure(Struct, frozen=True):
    """What a fleet rule measured in one run; ``figure`` is None when a ratio had no images to judge."""

    policy_id: str
    measure: Measure
    count: int  # images matching `where` (within `among`)
    total: int  # images in the population: matching `among`, or all
    figure: int | float | None
    op: str
    threshold: int | float
    passed: bool

    @property
    def requirement(self) -> str:
        return f"{self.measure} {self.op} {threshold_text(self.measure, self.threshold)}"

    def values(self) -> dict[str, str]:
        """The message placeholders, rendered for people (``{threshold}`` of a ratio: ``5%``)."""
        ratio = self.count / self.total if self.total else None
        return {
            "count": str(self.count),
            "total": str(self.total),
            "ratio": "n/a" if ratio is None else f"{ratio:.4f}",
            "percent": "n/a" if ratio is None else f"{ratio * 100:.1f}%",
            "threshold": threshold_text(self.measure, self.threshold),
        }

    @property
    def text(self) -> str:
        """One line for people, passing or not: ``7.5% (372 of 4930); must be at most 5%: passed``."""
        if self.figure is None:
            return f"not judged: no images to take a ratio of ({self.count} of {self.total})"
        shown = self.values()["percent"] if self.measure == "ratio" else str(self.count)
        must = f"{OP_WORDS.get(self.op, self.op)} {threshold_text(self.measure, self.threshold)}"
        verdict = "passed" if self.passed else "failed"
        return f"{shown} ({self.count} of {self.total}); must be {must}: {verdict}"


class FleetCounter:
    """Counts one fleet rule over a stream of images, keeping only counters and a few labels."""

    __slots__ = ("_among", "_where", "cap", "count", "examples", "policy_id", "rule", "total")

    def __init__(self, policy_id: str, rule: FleetRule, now_ms: int, cap: int = EXAMPLES_CAP) -> None:
        self.policy_id = policy_id
        self.rule = rule
        self._where: Predicate = rule.where.bind(now_ms)
        self._among: Predicate | None = rule.among.bind(now_ms) if rule.among else None
        self.cap = cap
        self.count = 0
        self.total = 0
        self.examples: list[str] = []

    def add(self, image: Image) -> None:
        if self._among is not None and not self._among(image):
            return
        self.total += 1
        if self._where(image):
            self.count += 1
            if len(self.examples) < self.cap:
                self.examples.append(image_label(image))

    def figure(self) -> FleetFigure:
        rule = self.rule
        figure: int | float | None = self.count
        if rule.measure == "ratio":
            figure = self.count / self.total if self.total else None
        passed = True if figure is None else bool(rule.op.compare(figure, rule.threshold))  # type: ignore[misc]
        return FleetFigure(
            self.policy_id, rule.measure, self.count, self.total, figure, rule.op.name, rule.threshold, passed
        )


def read_fleet(raw: object, policy_id: str, reader: ConditionReader, problems: Problems) -> FleetRule | None:
    """The ``fleet`` object of one policy, or None (with problems recorded) when it is wrong."""
    if not isinstance(raw, dict):
        return None
    measures = [name for name in ("count", "ratio") if name in raw]
    if len(measures) != 1:
        given = " and ".join(f'"{name}"' for name in measures) or "neither"
        problems.append(("/fleet", f'got {given}, expected exactly one of "count" or "ratio"'))
        return None
    measure: Measure = measures[0]  # type: ignore[assignment]
    base = child("/fleet", measure)
    body = raw[measure]
    if not isinstance(body, dict):
        return None
    where = reader.read(body.get("where"), child(base, "where"))
    among = reader.read(body["among"], child(base, "among")) if "among" in body else None
    op = OPERATORS.get(raw.get("op"))  # type: ignore[arg-type]
    threshold = raw.get("value")
    if op is None or op.name not in THRESHOLD_OPERATORS:
        if isinstance(raw.get("op"), str):
            from imagewatch.suggest import did_you_mean  # only a broken policy needs it

            hint = did_you_mean(raw["op"], THRESHOLD_OPERATORS, OPERATOR_SYNONYMS)
            problems.append(("/fleet/op", got(raw["op"], "one of " + ", ".join(THRESHOLD_OPERATORS) + hint)))
        return None
    if measure == "count" and (
        isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0
    ):
        problems.append(("/fleet/value", got(threshold, "a whole number of images ≥ 0 for a count")))
        return None
    if measure == "ratio" and (
        isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1
    ):
        problems.append(("/fleet/value", got(threshold, "a ratio between 0 and 1 (0.05 is 5%)")))
        return None
    if where is None or ("among" in body and among is None):
        return None
    return FleetRule(
        measure,
        compile_condition(where, f"{policy_id} fleet where"),
        compile_condition(among, f"{policy_id} fleet among") if among else None,
        op,
        threshold,
    )
