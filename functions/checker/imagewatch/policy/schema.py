"""The packaged policy JSON Schema, and its errors in our words (``imagewatch.schema_errors``).

There is one copy of the schema: ``policy.schema.json`` in this package. Policy files point editors
at it with a relative ``$schema`` path; the loader reads it through importlib.resources.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_FILE = "policy.schema.json"
# Said when a required property is missing, after its name.
REQUIRED_HINTS = {"expires": ' (write "never" for an exemption that does not expire)'}


@cache
def policy_schema() -> dict[str, Any]:
    """The schema as data (read once)."""
    text = resources.files("imagewatch.policy").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(policy_schema())


def schema_problems(doc: object) -> list[tuple[str, str]]:
    """Every schema error in ``doc`` as (pointer, message), in document order, without repeats."""
    errors = list(_validator().iter_errors(doc))
    if not errors:
        return []
    from imagewatch.policy.operators import OPERATOR_SYNONYMS
    from imagewatch.schema_errors import Translator  # only a broken policy needs it

    return Translator(hints=REQUIRED_HINTS, synonyms=OPERATOR_SYNONYMS).problems(errors)
