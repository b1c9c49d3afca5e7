"""Compiling a condition tree into one plain Python function, once, at load time.

The tree becomes a single boolean expression over the image ``i`` (``(i.scan_status == _k0 and …)``),
wrapped in a factory that binds the evaluation clock: ``older_than``/``within`` cutoffs are computed
once per run, not per image. Evaluating an image is then one call doing only the comparisons.

Why generated source is safe here: the only things spliced into the source are field names (checked
against ``IMAGE_FIELDS``, so plain identifiers) and the fixed expression templates of the operator
table. Every value from a policy file is bound as a constant (``_k0``…), never written into source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from msgspec import Struct

from imagewatch.hss.model import IMAGE_FIELDS, SEVERITY_RANK, Image
from imagewatch.policy.conditions import AllOf, Leaf, Node, Not, fields_read
from imagewatch.policy.operators import SCAN_SUCCESS

Predicate = Callable[[Image], bool]


class _Generator:
    """Turns nodes into one expression, collecting the constants and clock-derived cutoffs."""

    def __init__(self) -> None:
        self.constants: dict[str, object] = {}
        self.cutoffs: list[str] = []

    def constant(self, value: object) -> str:
        name = f"_k{len(self.constants)}"
        self.constants[name] = value
        return name

    def expr(self, node: Node) -> str:
        if isinstance(node, Leaf):
            if node.field not in IMAGE_FIELDS or not node.field.isidentifier():
                raise ValueError(f"not an image field: {node.field!r}")  # unreachable after reading
            const = self.constant(node.constant) if node.op.read is not None else ""
            if node.op.uses_now:
                cutoff = f"_t{len(self.cutoffs)}"
                self.cutoffs.append(f"{cutoff} = now - {const}")
                const = cutoff
            return node.op.expr(node.field, node.kind, const)
        if isinstance(node, Not):
            return f"(not {self.expr(node.child)})"
        joiner = " and " if isinstance(node, AllOf) else " or "
        return "(" + joiner.join(self.expr(sub) for sub in node.children) + ")"


class CompiledCondition(Struct, frozen=True):
    """A condition tree and its compiled function; ``bind(now_ms)`` gives the per-image predicate."""

    node: Node
    source: str
    fields: tuple[str, ...]
    factory: Callable[[int], Predicate]

    def bind(self, now_ms: int) -> Predicate:
        return self.factory(now_ms)


def compile_condition(node: Node, name: str = "condition") -> CompiledCondition:
    """Compile ``node`` (already checked by ConditionReader) into a CompiledCondition."""
    generator = _Generator()
    expression = generator.expr(node)
    lines = ["def _factory(now):"]
    lines += [f"    {line}" for line in generator.cutoffs]
    lines += ["    def predicate(i):", f"        return {expression}", "    return predicate"]
    source = "\n".join(lines)
    namespace: dict[str, object] = {
        "__builtins__": {},
        "_rank": SEVERITY_RANK.get,
        "_SUCCESS": SCAN_SUCCESS,
        **generator.constants,
    }
    factory: Callable[[int], Predicate] = define(
        source, namespace, "_factory", f"{name} {node.pointer or '/'}"
    )
    return CompiledCondition(node, source, fields_read(node), factory)


def define(source: str, namespace: dict[str, object], name: str, label: str) -> Any:
    """Run generated ``source`` in ``namespace`` and return what it defines as ``name``.

    Callers splice in only identifiers checked against IMAGE_FIELDS and fixed templates; every value
    from a policy file is passed through ``namespace`` as a constant.
    """
    exec(compile(source, f"<policy {label}>", "exec"), namespace)  # noqa: S102 - see the docstring
    return namespace[name]
