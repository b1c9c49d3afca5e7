"""Policies: JSON rules over HSS images — loaded with precise errors, compiled once, evaluated streaming.

See docs/policies.md for the language. The public surface:

* ``load_policies(path) -> LoadResult`` (``.policies``, ``.errors``, ``.warnings``)
* ``Evaluator(policies, now_ms)``: ``.add(image)`` per image, ``.finish() -> EvaluationResult``
* ``validate_cli(paths, out)`` and ``run_examples_cli(paths, out)`` for ``imagewatch validate|test``
"""

from typing import Any

from imagewatch.policy.errors import PolicyError
from imagewatch.policy.evaluate import EvaluationResult, Evaluator, Exempted, ExemptionReport
from imagewatch.policy.exemptions import Exemption
from imagewatch.policy.fleet import FleetFigure
from imagewatch.policy.loader import PolicyLoadError, load_policies, policy_from_mapping
from imagewatch.policy.model import LoadResult, Policy

# The command-line runners load on first use: the Lambda handler never needs them (cold start).
_LAZY = {
    "ExampleFailure": "imagewatch.policy.examples",
    "failures": "imagewatch.policy.examples",
    "run_examples_cli": "imagewatch.policy.examples",
    "validate_cli": "imagewatch.policy.validate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'imagewatch.policy' has no attribute {name!r}")


__all__ = [
    "EvaluationResult",
    "Evaluator",
    "ExampleFailure",
    "Exempted",
    "Exemption",
    "ExemptionReport",
    "FleetFigure",
    "LoadResult",
    "Policy",
    "PolicyError",
    "PolicyLoadError",
    "failures",
    "load_policies",
    "policy_from_mapping",
    "run_examples_cli",
    "validate_cli",
]
