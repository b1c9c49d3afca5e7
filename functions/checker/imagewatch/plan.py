"""Plan: group policies by the filters they push down, so each distinct listing is fetched once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Generic, Protocol, TypeVar

from msgspec import Struct, structs

from imagewatch.hss.query import ImageQuery


class Selecting(Protocol):
    id: str
    select: ImageQuery


P = TypeVar("P", bound=Selecting)


class PlannedQuery(Struct, Generic[P], frozen=True):
    """One ListImageLocal listing and the policies that judge its images."""

    query: ImageQuery
    policies: tuple[P, ...]

    @property
    def policy_ids(self) -> tuple[str, ...]:
        return tuple(policy.id for policy in self.policies)


def plan(policies: Iterable[P], enterprise_project_id: str | None = None) -> list[PlannedQuery[P]]:
    """One query per distinct ``select`` (in first-seen order); the target's enterprise project is
    added to every query unless a policy names its own."""
    groups: dict[ImageQuery, list[P]] = {}
    for policy in policies:
        query = policy.select
        if enterprise_project_id and query.enterprise_project_id is None:
            query = structs.replace(query, enterprise_project_id=enterprise_project_id)
        groups.setdefault(query, []).append(policy)
    return [PlannedQuery(query, tuple(group)) for query, group in groups.items()]


def describe(queries: Sequence[PlannedQuery]) -> list[str]:
    return [f"{q.query.describe()}: {', '.join(q.policy_ids)}" for q in queries]
