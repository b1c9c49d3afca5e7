"""Condition trees: reading ``all``/``any``/``not``/leaf JSON into typed nodes, checking every leaf.

Reading never raises: it records (pointer, message) for each problem and carries on, so one
validation run reports every error. Shapes the schema already rejects are skipped quietly.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct

from imagewatch.hss.model import IMAGE_FIELDS
from imagewatch.policy.errors import BadValue, child, got, show
from imagewatch.policy.operators import (
    KIND_TEXT,
    OPERATOR_SYNONYMS,
    OPERATORS,
    Kind,
    Operator,
    field_kind,
    operators_for,
)

MAX_DEPTH = 10  # all/any/not levels, counting the leaf
MAX_LEAVES = 200  # leaves per policy, all its conditions together

Problems = list[tuple[str, str]]  # (JSON pointer, message)


class Leaf(Struct, frozen=True):
    """``{"field": F, "op": OP, "value": V}`` with V already turned into the compared constant."""

    pointer: str
    field: str
    kind: Kind
    op: Operator
    value: Any  # as written, for explanations
    constant: Any


class AllOf(Struct, frozen=True):
    pointer: str
    children: tuple[Node, ...]


class AnyOf(Struct, frozen=True):
    pointer: str
    children: tuple[Node, ...]


class Not(Struct, frozen=True):
    pointer: str
    child: Node


Node = Leaf | AllOf | AnyOf | Not


def leaves(node: Node) -> list[Leaf]:
    """Every leaf under ``node``, left to right."""
    if isinstance(node, Leaf):
        return [node]
    if isinstance(node, Not):
        return leaves(node.child)
    return [leaf for sub in node.children for leaf in leaves(sub)]


def condition_text(node: Node, limit: int = 160) -> str:
    """A condition in one line for people: ``image_name eq "x" and image_version glob "4.2.*"``."""

    def text(node: Node, nested: bool) -> str:
        if isinstance(node, Leaf):
            return node.field + f" {node.op.name}" + ("" if node.op.read is None else f" {show(node.value)}")
        if isinstance(node, Not):
            return f"not ({text(node.child, False)})"
        joined = (" and " if isinstance(node, AllOf) else " or ").join(
            text(sub, True) for sub in node.children
        )
        return f"({joined})" if nested and len(node.children) > 1 else joined

    line = text(node, False)
    return line if len(line) <= limit else line[: limit - 3] + "..."


def fields_read(node: Node) -> tuple[str, ...]:
    """The image fields a condition reads, in first-use order (severity also reads scan_status)."""
    names: list[str] = []
    for leaf in leaves(node):
        extra = ["scan_status"] if leaf.kind == "severity" and leaf.op.read is not None else []
        names.extend(name for name in [leaf.field, *extra] if name not in names)
    return tuple(names)


class ConditionReader:
    """Reads the conditions of one policy; ``problems`` collects what is wrong, ``leaf_count`` the size."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.leaf_count = 0
        self._too_big = False

    def read(self, raw: object, pointer: str, depth: int = 1) -> Node | None:
        """The node at ``pointer``, or None when it (or anything under it) is wrong."""
        if not isinstance(raw, dict):
            return None
        if depth > MAX_DEPTH:
            self.problems.append((pointer, f"conditions nest deeper than {MAX_DEPTH} levels; simplify"))
            return None
        if "all" in raw or "any" in raw:
            key = "all" if "all" in raw else "any"
            items = raw[key]
            if not isinstance(items, list) or not items:
                return None
            where = child(pointer, key)
            children = [self.read(item, child(where, n), depth + 1) for n, item in enumerate(items)]
            if any(sub is None for sub in children):
                return None
            group = AllOf if key == "all" else AnyOf
            return group(pointer, tuple(sub for sub in children if sub is not None))
        if "not" in raw:
            inner = self.read(raw["not"], child(pointer, "not"), depth + 1)
            return None if inner is None else Not(pointer, inner)
        return self._leaf(raw, pointer)

    def _leaf(self, raw: dict[str, Any], pointer: str) -> Leaf | None:
        self.leaf_count += 1
        if self.leaf_count > MAX_LEAVES and not self._too_big:
            self._too_big = True
            self.problems.append((pointer, f"more than {MAX_LEAVES} conditions in one policy; split it"))
        name, op_name = raw.get("field"), raw.get("op")
        if not isinstance(name, str) or not isinstance(op_name, str):
            return None  # the schema names what is missing
        kind = field_kind(name)
        op = OPERATORS.get(op_name)
        if kind is None or op is None:
            from imagewatch.suggest import did_you_mean  # only a broken policy needs it

            if kind is None:
                hint = did_you_mean(name, IMAGE_FIELDS)
                self.problems.append((child(pointer, "field"), got(name, "an ImageLocalInfo field" + hint)))
            if op is None:
                hint = did_you_mean(op_name, OPERATORS, OPERATOR_SYNONYMS)
                expected = "an operator: " + ", ".join(OPERATORS) + hint
                self.problems.append((child(pointer, "op"), got(op_name, expected)))
        if kind is None or op is None:
            return None
        if kind not in op.kinds:
            allowed = ", ".join(operators_for(kind))
            why = " (severity_level compares by rank)" if kind == "severity" else ""
            self.problems.append(
                (
                    child(pointer, "op"),
                    f"got {show(op_name)} on {name}, {KIND_TEXT[kind]} field{why}; expected one of {allowed}",
                )
            )
            return None
        return self._value(raw, pointer, name, kind, op)

    def _value(self, raw: dict[str, Any], pointer: str, name: str, kind: Kind, op: Operator) -> Leaf | None:
        if op.read is None:
            if "value" in raw:
                self.problems.append((child(pointer, "value"), f"{op.name} takes no value; remove it"))
                return None
            return Leaf(pointer, name, kind, op, None, None)
        if "value" not in raw:
            self.problems.append((pointer, f"missing 'value': {op.name} compares {name} with it"))
            return None
        try:
            constant = op.read(name, kind, raw["value"])
        except BadValue as error:
            self.problems.append((child(pointer, "value") + error.at, error.message))
            return None
        return Leaf(pointer, name, kind, op, raw["value"], constant)
