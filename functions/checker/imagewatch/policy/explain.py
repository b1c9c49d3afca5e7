"""Why a condition came out true or false for one image: the leaves that decided it.

Used when an example fails, so it may be slow; each leaf is compiled on its own by the same code that
compiles whole conditions, so the explanation cannot disagree with the evaluation.

Deciding leaves: for a false ``all``, its first false child; for a true ``any``, its first true
child; for a true ``all`` or false ``any``, every child; ``not`` passes its child's through.
"""

from __future__ import annotations

from imagewatch.hss.model import SEVERITY_RANK, Image
from imagewatch.policy.compile import compile_condition
from imagewatch.policy.conditions import AnyOf, Leaf, Node, Not
from imagewatch.policy.errors import show
from imagewatch.policy.instants import format_ms
from imagewatch.policy.operators import SCAN_SUCCESS


def _shown(leaf: Leaf, image: Image) -> str:
    actual = getattr(image, leaf.field)
    if actual is None:
        text = "an absent value"
    elif leaf.kind == "timestamp":
        text = f"{actual} ({format_ms(actual)})"
    else:
        text = show(actual)
    if leaf.kind == "severity" and leaf.op.read is not None:
        if image.scan_status != SCAN_SUCCESS:
            status = show(image.scan_status)
            text += f" (scan_status {status}: unrated, levels count only after a successful scan)"
        elif actual not in SEVERITY_RANK:
            text += " (scan succeeded without a known level: counted as High)"
    return text


def describe(leaf: Leaf, image: Image, outcome: bool) -> str:
    """``/where/all/1: severity_level gte "High" was false for "Medium"``."""
    value = "" if leaf.op.read is None else f" {show(leaf.value)}"
    verdict = "true" if outcome else "false"
    return (
        f"{leaf.pointer or '/'}: {leaf.field} {leaf.op.name}{value} was {verdict} for {_shown(leaf, image)}"
    )


def explain(node: Node, image: Image, now_ms: int) -> tuple[bool, list[str]]:
    """(outcome, descriptions of the deciding leaves)."""
    if isinstance(node, Leaf):
        outcome = compile_condition(node, "explain").bind(now_ms)(image)
        return outcome, [describe(node, image, outcome)]
    if isinstance(node, Not):
        outcome, reasons = explain(node.child, image, now_ms)
        return not outcome, reasons
    short_circuit = isinstance(node, AnyOf)  # any stops at true, all at false
    gathered: list[str] = []
    for sub in node.children:
        outcome, reasons = explain(sub, image, now_ms)
        if outcome is short_circuit:
            return outcome, reasons
        gathered += reasons
    return not short_circuit, gathered
