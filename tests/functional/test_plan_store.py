"""The team plan store contract (PlanStore: load / save of the Teams row's `plan`), against the
in-memory fake and against the DynamoDB Teams table on moto; and a plan living beside the team's
webhook signing secrets on the same row without either write touching the other."""

from __future__ import annotations

import pytest

from taskhook.adapters.dynamo.plans import DynamoPlanStore
from taskhook.container import container
from taskhook.model.plan import DestinationLimit, TeamPlan
from taskhook.ports import PlanStore
from tests.support.fakes import InMemoryPlanStore

TEAM, OTHER = "team-a", "team-b"


@pytest.fixture(params=["memory", "dynamo"])
def plans(request: pytest.FixtureRequest) -> PlanStore:
    if request.param == "memory":
        return InMemoryPlanStore()
    request.getfixturevalue("aws")
    return DynamoPlanStore(container().client("dynamodb"), container().settings.teams_table)


def test_a_team_without_a_plan_loads_none(plans: PlanStore) -> None:
    assert plans.load(TEAM) is None


def test_a_saved_plan_loads_back_whole_and_only_for_its_team(plans: PlanStore) -> None:
    plan = TeamPlan(rps=2.5, burst=10, concurrency=0, destinations={
        "api.replicate.com": DestinationLimit(concurrency=2, rps=5.0, burst=None),
        "queue.fal.run": DestinationLimit(concurrency=None, rps=0.5, burst=3),
    })
    plans.save(TEAM, plan)
    assert plans.load(TEAM) == plan
    assert plans.load(OTHER) is None


def test_a_save_replaces_the_plan(plans: PlanStore) -> None:
    plans.save(TEAM, TeamPlan(rps=1, destinations={"a.example": DestinationLimit(concurrency=1)}))
    plans.save(TEAM, TeamPlan(concurrency=4))
    assert plans.load(TEAM) == TeamPlan(concurrency=4)


def test_the_plan_and_the_signing_secrets_share_the_row_without_touching_each_other(aws: object) -> None:
    store = DynamoPlanStore(container().client("dynamodb"), container().settings.teams_table)
    secrets = container().team_secrets
    first = secrets.current(TEAM)
    store.save(TEAM, TeamPlan(rps=3))
    assert secrets.current(TEAM) == first
    rotated = secrets.rotate(TEAM)
    assert store.load(TEAM) == TeamPlan(rps=3)
    assert secrets.current(TEAM) == rotated
