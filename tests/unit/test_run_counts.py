"""Which listing's records the run counts as "read" (issue 14, point 7): one listing when it holds every
other, else the union of all of them. The e2e figures are in tests/e2e/test_run_facts.py."""

from __future__ import annotations

import pytest

from imagewatch.plan import plan
from imagewatch.policy import policy_from_mapping
from imagewatch.run import covering_query


def rule(policy_id: str, **select: object):
    return policy_from_mapping(
        {
            "id": policy_id,
            "title": "t",
            "severity": "low",
            "where": {"field": "vul_num", "op": "gt", "value": 0},
            "message": "m",
            **({"select": select} if select else {}),
        }
    )


@pytest.mark.parametrize("project", [None, "0", "all_granted_eps", "4f1c6a2e"])
def test_a_listing_without_filters_holds_every_other_of_its_enterprise_project(project):
    queries = plan([rule("a", scan_status="success"), rule("b"), rule("c", has_vul=True)], project)
    widest = covering_query(queries)
    assert widest is not None and widest.policy_ids == ("b",)


def test_every_listing_filtered_means_there_is_none():
    assert covering_query(plan([rule("a", scan_status="success"), rule("c", has_vul=True)])) is None


def test_a_listing_of_another_enterprise_project_is_not_held_by_the_default_one():
    queries = plan([rule("a"), rule("b", enterprise_project_id="4f1c6a2e")])
    assert covering_query(queries) is None
    queries = plan([rule("a", enterprise_project_id="all_granted_eps"), rule("b", enterprise_project_id="x")])
    assert covering_query(queries).policy_ids == ("a",)
    assert (
        covering_query(plan([rule("a"), rule("b", enterprise_project_id="0")])) is not None
    )  # "0" is the default
