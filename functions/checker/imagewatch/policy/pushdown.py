"""Pushdown safety: a policy's ``select`` must never hide an image its ``where`` would flag.

``select`` narrows what HSS returns, so it is only an optimisation when the ``where`` already
implies it — under every reading of the filter HSS might apply. The API page and the SDK's docstrings
disagree on several filters (docs/emulator.md, "Where the sources disagree"): name matching may be
case-sensitive or not, ``image_version`` may be ignored without ``image_name``, ``image_size`` may be
exact or a lower bound, ``has_vul`` may only select successfully scanned images. So a parameter counts
as implied only through an equality the ``where`` requires (``eq``/``in`` on the mirrored field: an
exact value is inside a substring match of either case, an exact size inside ``≥``, an ignored filter
is no filter), and ``has_vul`` only when the ``where`` requires both the vulnerability count's sign
and ``scan_status = success``. Time windows and relations (``app_name``, ``pod_name``…) are scope by
definition. A select that is not implied is a warning, not an error: narrowing a policy's scope on
purpose is legitimate, doing it by accident hides violations.
"""

from __future__ import annotations

from imagewatch.hss.model import Image
from imagewatch.hss.query import ImageQuery
from imagewatch.policy.conditions import AllOf, Leaf, Node, Not
from imagewatch.policy.errors import child, show
from imagewatch.policy.model import Policy
from imagewatch.policy.operators import SCAN_SUCCESS, SEVERITY_FIELD

MIRRORED = (
    "scan_status",
    "local_image_type",
    "image_name",
    "image_version",
    "host_name",
    "host_id",
    "image_size",
)
EXACT = ("scan_status", "local_image_type")  # enumerated values: the API filter is an equality
_RECORD_VALUE = {("scan_status", "waiting_for_scan"): "waiting"}  # the query and records spell it apart
_POSITIVE_RANK_OPS = ("eq", "lt", "lte", "gt", "gte", "in")

Implied = dict[str, frozenset[object]]


def record_value(parameter: str, value: object) -> object:
    """The record field value a query parameter value selects."""
    return _RECORD_VALUE.get((parameter, value), value)  # type: ignore[arg-type]


def implied(node: Node) -> Implied:
    """For each field, the values it must hold whenever ``node`` is true (fields not listed: anything)."""
    if isinstance(node, Leaf):
        if node.field == SEVERITY_FIELD:
            # a level comparison is only ever true after a successful scan (operators.py)
            return {"scan_status": frozenset((SCAN_SUCCESS,))} if node.op.name in _POSITIVE_RANK_OPS else {}
        if node.op.name == "eq":
            return {node.field: frozenset((node.constant,))}
        return {node.field: node.constant} if node.op.name == "in" else {}
    if isinstance(node, Not):
        return {}
    parts = [implied(sub) for sub in node.children]
    merged: Implied = {}
    if isinstance(node, AllOf):
        for part in parts:
            for name, values in part.items():
                merged[name] = merged[name] & values if name in merged else values
        return merged
    common = set.intersection(*(set(part) for part in parts))
    return {name: frozenset().union(*(part[name] for part in parts)) for name in common}


def _sign(node: Node, field: str, positive: bool) -> bool:
    """Whether ``node`` true implies ``field > 0`` (``positive``) or ``field == 0`` (not), for a count."""
    if isinstance(node, Leaf):
        if node.field != field or isinstance(node.constant, bool):
            return False
        op, value = node.op.name, node.constant
        if op == "in":
            return bool(value) and all(_sign_of(v, positive) for v in value)
        if op == "eq":
            return _sign_of(value, positive)
        if not isinstance(value, int):
            return False
        if positive:
            return (op == "gt" and value >= 0) or (op == "gte" and value >= 1)
        return (op == "lte" and value <= 0) or (op == "lt" and value <= 1)  # counts are never negative
    if isinstance(node, Not):
        return False
    results = [_sign(sub, field, positive) for sub in node.children]
    return any(results) if isinstance(node, AllOf) else bool(results) and all(results)


def _sign_of(value: object, positive: bool) -> bool:
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return value > 0 if positive else value == 0


def has_vul_implied(node: Node, wanted: bool) -> bool:
    """``has_vul = wanted`` is safe to push when the where requires the matching ``vul_num`` sign *and*
    a successful scan: the SDK says the filter selects only successfully scanned images, and a record
    being rescanned (or whose rescan failed) may still carry the count of its last scan."""
    scanned = implied(node).get("scan_status", frozenset()) == frozenset((SCAN_SUCCESS,))
    return scanned and _sign(node, "vul_num", wanted)


def pushdown_warnings(policy: Policy) -> list[tuple[str, str]]:
    """(pointer, message) for each select parameter that could hide images the rule would flag."""
    filters = policy.select.filters()
    if policy.fleet is not None:
        return [
            (
                child("/select", name),
                "a fleet rule counts only the selected images: this narrows its population",
            )
            for name in filters
        ]
    must = implied(policy.where.node) if policy.where is not None else {}
    warnings: list[tuple[str, str]] = []
    for name, value in filters.items():
        if name == "has_vul" and policy.where is not None:
            if not has_vul_implied(policy.where.node, bool(value)):
                comparison = "vul_num gt 0" if value else "vul_num eq 0"
                warnings.append(
                    (
                        child("/select", name),
                        f"the where does not require both {comparison} and scan_status eq success:"
                        " HSS may apply has_vul to successfully scanned images only, so images the"
                        " where would flag could be hidden",
                    )
                )
        elif name not in MIRRORED:
            warnings.append(
                (
                    child("/select", name),
                    f"{name} is not an image field, so the where cannot imply it: images"
                    " outside it are never evaluated (fine if it is meant as scope)",
                )
            )
        elif not must.get(name, frozenset()) or not must[name] <= {record_value(name, value)}:
            warnings.append(
                (
                    child("/select", name),
                    f"the where does not imply {name} = {show(value)}: images with another"
                    f" {name} are never evaluated, even those the where would flag",
                )
            )
    return warnings


def select_admits(query: ImageQuery, image: Image) -> tuple[bool, str]:
    """Whether HSS would return ``image`` for ``query``, as far as it can be known (the exact filters)."""
    for name in EXACT:
        wanted = getattr(query, name)
        if wanted is not None and getattr(image, name) != record_value(name, wanted):
            return False, f"/select/{name} is {show(wanted)} but the image has {show(getattr(image, name))}"
    return True, ""
