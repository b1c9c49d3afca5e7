"""Compiling a policy's violation builder: message, label and fields in one generated function.

Violations can be as many as images (a fleet where most images are unscanned), so building one must
cost little: the message template becomes one string concatenation over the image's attributes,
compiled once at load time like the conditions are (see compile.py for why generated source is safe).

In messages, absent or empty values read ``?``, and timestamps read as ISO dates (0 reads ``never``).
"""

from __future__ import annotations

from collections.abc import Callable

from imagewatch.hss.model import IMAGE_FIELDS, Image
from imagewatch.policy.compile import define
from imagewatch.policy.instants import format_ms
from imagewatch.policy.labels import image_label
from imagewatch.policy.template import Template
from imagewatch.violation import Severity, Violation

ViolationBuilder = Callable[[Image], Violation]


def _checked(name: str) -> str:
    if not name.isidentifier() or name not in IMAGE_FIELDS:
        raise ValueError(f"not an image field: {name!r}")  # unreachable: templates are checked at load
    return name


def _value_expr(name: str) -> str:
    kind = IMAGE_FIELDS[_checked(name)]
    if kind == "timestamp":
        return f"_fmt(i.{name})"
    if kind == "int":
        return f'("?" if (v := i.{name}) is None else str(v))'
    return f'(i.{name} or "?")'


def compile_violation(
    policy_id: str, title: str, severity: Severity, message: Template, fields: tuple[str, ...]
) -> ViolationBuilder:
    """The function turning a matching image into this policy's Violation."""
    constants: dict[str, object] = {}

    def constant(value: object) -> str:
        key = f"_k{len(constants)}"
        constants[key] = value
        return key

    parts = []
    for literal, name in message.pieces:
        if literal:
            parts.append(constant(literal))
        if name:
            parts.append(_value_expr(name))
    text = " + ".join(parts) or '""'
    record = ", ".join(f"{constant(name)}: i.{_checked(name)}" for name in fields)
    source = (
        "def build(i):\n"
        f"    return _Violation(_id, _title, _severity, i.identity, _label(i), {text}, {{{record}}})\n"
    )
    namespace: dict[str, object] = {
        "__builtins__": {"str": str},
        "_Violation": Violation,
        "_label": image_label,
        "_fmt": format_ms,
        "_id": policy_id,
        "_title": title,
        "_severity": severity,
        **constants,
    }
    return define(source, namespace, "build", f"{policy_id} message")  # type: ignore[no-any-return]
