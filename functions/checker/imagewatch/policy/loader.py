"""Loading policy files: find them, read JSON precisely, validate, build, and keep the good ones.

One policy per ``.json`` file (a folder is searched recursively, in sorted order; other files, dot
folders and ``*.schema.json`` are ignored). A policy with any error is left out and its errors are
reported with file and JSON pointer; the others load. Duplicate ids: the first file (in path order)
keeps the id, later ones are errors. Files are read only when regular, and with a bound (``files.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imagewatch.policy.build import build_policy
from imagewatch.policy.errors import PolicyError, child, show
from imagewatch.policy.files import MAX_FILE_BYTES, FileRefused, json_files, read_regular_file
from imagewatch.policy.model import LoadResult, Policy
from imagewatch.policy.pushdown import pushdown_warnings
from imagewatch.policy.schema import schema_problems
from imagewatch.untrusted_json import LONE_SURROGATE, NOT_UNICODE, has_lone_surrogate, lone_surrogate_at

MAX_JSON_DEPTH = 64  # far above any sensible policy (conditions stop at 10), below recursion limits

PathLike = str | Path


class _Duplicates(dict):  # type: ignore[type-arg]
    """A JSON object that remembers keys given twice (json keeps the last silently)."""

    repeated: list[str]


def _object(pairs: list[tuple[str, Any]]) -> _Duplicates:
    obj = _Duplicates(pairs)
    obj.repeated = []
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            obj.repeated.append(key)
        seen.add(key)
    return obj


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _depth(value: object) -> int:
    """Nesting depth, computed without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((item, depth + 1) for item in children)
    return deepest


def _repeated_keys(value: object, pointer: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    stack = [(value, pointer)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, _Duplicates):
            found += [
                (child(where, key), f"property {show(key)} given twice (JSON keeps only the last)")
                for key in node.repeated
            ]
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        stack.extend((item, child(where, key)) for key, item in items)
    return sorted(found)


def read_json(path: Path, name: str, inside: Path | None = None) -> tuple[object, list[PolicyError]]:
    """The parsed file, or errors naming line and column (malformed) or pointer (repeated keys).
    ``inside``: the policy folder a symbolic link must stay in (None for a file named directly)."""
    if has_lone_surrogate(name):  # bytes that are not UTF-8 in its name: it would reach every report
        shown = name.encode("utf-8", "backslashreplace").decode("utf-8")
        return None, [PolicyError(shown, "", f"a file name that is not {NOT_UNICODE}: rename the file")]
    try:
        raw = read_regular_file(path, MAX_FILE_BYTES, "per policy file", inside)
    except FileRefused as refused:
        return None, [PolicyError(name, "", refused.message)]
    try:
        text = raw.decode("utf-8")
        doc = json.loads(text, object_pairs_hook=_object, parse_constant=_reject_constant)
    except UnicodeDecodeError as error:
        return None, [PolicyError(name, "", f"not UTF-8 text (byte {error.start})")]
    except json.JSONDecodeError as error:
        return None, [PolicyError(name, "", f"malformed JSON: {error.msg}", error.lineno, error.colno)]
    except (ValueError, RecursionError) as error:
        message = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        return None, [PolicyError(name, "", f"malformed JSON: {message}")]
    if _depth(doc) > MAX_JSON_DEPTH:
        return None, [PolicyError(name, "", f"nested more than {MAX_JSON_DEPTH} levels deep")]
    if (pointer := lone_surrogate_at(doc)) is not None:
        return None, [PolicyError(name, pointer, LONE_SURROGATE)]
    return doc, [PolicyError(name, pointer, message) for pointer, message in _repeated_keys(doc)]


def canonical_sha256(doc: dict[str, Any]) -> str:
    """sha256 of the policy's canonical JSON: sorted keys, no whitespace, UTF-8, ``$schema`` left out."""
    body = {key: value for key, value in doc.items() if key != "$schema"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def policy_files(path: Path) -> list[Path]:
    """The policy files at ``path``: the file itself, or every ``*.json`` under a folder."""
    return json_files(path) if path.is_dir() else [path]


Checked = tuple[Policy | None, list[PolicyError], list[PolicyError]]  # (policy, errors, warnings)


def check_document(doc: object, name: str) -> Checked:
    """Schema, then semantics, of one parsed policy; a semantic error at a pointer the schema already
    flagged is left out, so each problem is reported once."""
    if not isinstance(doc, dict):
        kind = "a list" if isinstance(doc, list) else type(doc).__name__
        return None, [PolicyError(name, "", f"got {kind}, expected one policy object per file")], []
    schema = schema_problems(doc)
    policy, problems = build_policy(doc, name, canonical_sha256(doc))
    flagged = {pointer for pointer, _ in schema}
    errors = [PolicyError(name, pointer, message) for pointer, message in schema]
    errors += [PolicyError(name, pointer, message) for pointer, message in problems if pointer not in flagged]
    if errors or policy is None:
        return None, errors, []
    return policy, [], [PolicyError(name, pointer, message) for pointer, message in pushdown_warnings(policy)]


def load_file(path: Path, name: str | None = None, inside: Path | None = None) -> Checked:
    """One file: (policy or None, errors, warnings); ``inside`` as for ``read_json``."""
    name = name or str(path)
    doc, errors = read_json(path, name, inside)
    if doc is None:
        return None, errors, []
    policy, more, warnings = check_document(doc, name)
    errors += more
    return (None if errors else policy), errors, warnings


class PolicyLoadError(ValueError):
    """A policy given as data did not load; ``errors`` holds every problem."""

    def __init__(self, errors: list[PolicyError]) -> None:
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = errors


def policy_from_mapping(doc: dict[str, Any], source: str = "<inline>") -> Policy:
    """One policy from data already in memory (tests, previews); raises PolicyLoadError."""
    policy, errors, _ = check_document(doc, source)
    if policy is None:
        raise PolicyLoadError(errors)
    return policy


def admit(result: LoadResult, owners: dict[str, str], path: Path, checked: Checked) -> None:
    """Add one checked file to ``result``: its errors and warnings, and its policy unless the id is
    taken (the first file in path order keeps it; ``owners`` maps each id to that file)."""
    policy, errors, warnings = checked
    result.files.append(str(path))
    result.errors += errors
    result.warnings += warnings
    if policy is None:
        return
    if policy.id in owners:
        message = f"policy id {show(policy.id)} is already defined in {owners[policy.id]}"
        result.errors.append(PolicyError(policy.source, "/id", message))
        return
    owners[policy.id] = policy.source
    result.policies.append(policy)


def load_policies(paths: PathLike | Sequence[PathLike]) -> LoadResult:
    """Load every policy under ``paths`` (files or folders); invalid ones are skipped and reported."""
    roots = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    result = LoadResult()
    owners: dict[str, str] = {}
    for root in roots:
        if not root.exists():
            result.errors.append(PolicyError(str(root), "", "no such file or folder"))
            continue
        files = policy_files(root)
        if not files:
            result.errors.append(PolicyError(str(root), "", "no policy files (*.json) found"))
        folder = root if root.is_dir() else None
        for path in files:
            admit(result, owners, path, load_file(path, inside=folder))
    return result
