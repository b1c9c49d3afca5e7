"""Compiling a policy's violation builder: subject, label, message and fields in one generated function.

Violations can be as many as images (a fleet where most images are unscanned), so building one must
cost little: the message template becomes one string concatenation over the image's attributes,
compiled once at load time like the conditions are (see compile.py for why generated source is safe).

The policy's subject decides what the violation names: ``image`` — the image key and ``name:version``
(the run merges the records of one image and adds its hosts to the label); ``record`` — the record's
identity and ``name:version on host``. Both carry the host the record was found on.

In messages, absent or empty values read ``?``, and timestamps read as ISO dates (0 reads ``never``).
"""

from __future__ import annotations

from collections.abc import Callable

from imagewatch.hss.model import IMAGE_FIELDS, Image
from imagewatch.policy.compile import define
from imagewatch.policy.instants import format_ms
from imagewatch.policy.labels import image_key, image_label
from imagewatch.policy.template import Template
from imagewatch.violation import Severity, SubjectKind, Violation

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


# (subject, label) expressions per subject kind; image_id is tested inline, the fallback key is rare.
_SUBJECT_EXPRS: dict[str, tuple[str, str]] = {
    "image": ("(i.image_id or _key(i))", "i.label"),
    "record": ("i.identity", "_label(i)"),
}


def compile_violation(
    policy_id: str,
    title: str,
    severity: Severity,
    message: Template,
    fields: tuple[str, ...],
    subject: SubjectKind = "image",
) -> ViolationBuilder:
    """The function turning a matching image record into this policy's Violation."""
    if subject not in _SUBJECT_EXPRS:
        raise ValueError(f"not an image rule's subject: {subject!r}")  # fleet rules build no violation here
    subject_expr, label_expr = _SUBJECT_EXPRS[subject]
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
        f"    return _Violation(_id, _title, _severity, {subject_expr}, {label_expr}, {text}, {{{record}}},"
        ' (), _kind, i.host_id or "", i.host_name or "")\n'
    )
    namespace: dict[str, object] = {
        "__builtins__": {"str": str},
        "_Violation": Violation,
        "_label": image_label,
        "_key": image_key,
        "_kind": subject,
        "_fmt": format_ms,
        "_id": policy_id,
        "_title": title,
        "_severity": severity,
        **constants,
    }
    return define(source, namespace, "build", f"{policy_id} message")  # type: ignore[no-any-return]
