"""Policies: JSON rules over HSS images — loaded with precise errors, compiled once, evaluated streaming.

See docs/policies.md for the language. The public surface:

* ``load_policies(path) -> LoadResult`` (``.policies``, ``.errors``, ``.warnings``)
* ``Evaluator(policies, now_ms)``: ``.add(image)`` per image, ``.finish() -> EvaluationResult``
* ``validate_cli(paths, out)`` and ``run_examples_cli(paths, out)`` for ``imagewatch validate|test``
"""

from imagewatch.policy.errors import PolicyError
from imagewatch.policy.evaluate import EvaluationResult, Evaluator, Exempted, ExemptionReport
from imagewatch.policy.examples import ExampleFailure, failures, run_examples_cli
from imagewatch.policy.exemptions import Exemption
from imagewatch.policy.fleet import FleetFigure
from imagewatch.policy.loader import PolicyLoadError, load_policies, policy_from_mapping
from imagewatch.policy.model import LoadResult, Policy
from imagewatch.policy.validate import validate_cli

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
