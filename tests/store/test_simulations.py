"""The simulations table: a row per simulation asked for over HTTP, queued to done or
failed, with its progress and report; asking is an audit event."""

import pytest

from app.store import audit
from app.store import simulations
from app.store.audit import Actor


@pytest.fixture
def db(empty_db):
    return empty_db


def test_a_simulation_from_queued_to_done(db):
    actor = Actor("alice.author", "k1")
    created = simulations.create(db, actor, {"ruleset_id": "retail_card", "candidate_version": 2}, 10)
    row = simulations.get(db, created.id)
    assert (row.status, row.requested_by, row.key_id, row.progress_done, row.progress_total) == \
        ("queued", "alice.author", "k1", 0, 10)
    simulations.start(db, created.id, 10)
    simulations.progress(db, created.id, 4)
    row = simulations.get(db, created.id)
    assert (row.status, row.progress_done, row.started_at is not None) == ("running", 4, True)
    simulations.finish(db, created.id, {"snapshots": 9, "error_count": 1, "changed": []})
    row = simulations.get(db, created.id)
    assert (row.status, row.progress_done, row.progress_total) == ("done", 10, 10)
    assert row.report == {"snapshots": 9, "error_count": 1, "changed": []}
    assert row.summary()["progress"] == {"done": 10, "total": 10}
    [event] = audit.list_events(db, action="simulation.request").events
    assert (event.actor, event.key_id, event.target) == ("alice.author", "k1", f"simulation:{created.id}")
    assert event.details == {"ruleset_id": "retail_card", "candidate_version": 2}


def test_a_failed_simulation_keeps_its_reason(db):
    created = simulations.create(db, Actor("bob.approver"), {"ruleset_id": "retail_card"})
    simulations.fail(db, created.id, "the ruleset version does not compile")
    row = simulations.get(db, created.id)
    assert (row.status, row.error, row.report, row.finished_at is not None) == \
        ("failed", "the ruleset version does not compile", None, True)


def test_an_unknown_simulation_is_not_found(db):
    with pytest.raises(simulations.SimulationNotFound) as caught:
        simulations.get(db, "nope")
    assert caught.value.reason == "simulation_not_found"
