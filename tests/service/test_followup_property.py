"""Property: logging the same decisions with retries, in any order, opens exactly the
tasks logging each of them once opens (no duplicate, no event twice)."""
from __future__ import annotations

import copy
import datetime as dt
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import store
from app.engine.library import load_library
from app.service import decide as decide_mod
from app.service.decide import DecisionRequest, Pinned
from tests.conftest import DELINQUENT_SNAPSHOT, ROOT, clean_snapshot

LIBRARY = load_library(ROOT / "rulesets", ROOT / "schemas")
RULESET = LIBRARY.ruleset("retail_card")
T0 = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.timezone.utc)


def snapshot(kind: str, customer: str) -> dict:
    if kind == "clean":
        snap = clean_snapshot(customer)
    else:
        snap = copy.deepcopy(DELINQUENT_SNAPSHOT)
        snap["customer"]["id"] = customer
        if kind == "red":
            snap["credit_report"]["other_banks"]["worst_dpd"] = 120
    snap["customer"]["account_manager"] = "rm-1"
    return snap


# a decision: (customer, kind); its client_request_id is its place in the list
decisions = st.lists(st.tuples(st.sampled_from(["A", "B"]), st.sampled_from(["orange", "red", "clean"])),
                     min_size=1, max_size=6)


def run(template: str, items: list[tuple[str, str]], order: list[int], batches: list[int]) -> list[tuple]:
    """Log decision ``order[i]`` of ``items`` (retries where an index repeats), in batches
    of the given sizes; return the tasks and their events, without ids and times."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "vigil.db")
        shutil.copyfile(template, path)
        db = store.connect(path)
        try:
            made = {}
            for index in dict.fromkeys(order):
                customer, kind = items[index]
                request = DecisionRequest("retail_card", customer, snapshot(kind, customer),
                                          client_request_id=f"req-{index}")
                at = T0 + dt.timedelta(days=index)
                made[index] = decide_mod.decide(request, Pinned(RULESET), clock=lambda at=at: at,
                                                follow_up=lambda c, a: {"overdue": []})
            start = 0
            for size in batches + [len(order)]:
                chunk = order[start:start + size]
                start += size
                if chunk:
                    decide_mod.log(db, [made[i].row for i in chunk], [made[i].follow_ups() for i in chunk])
                if start >= len(order):
                    break
            tasks = db.execute(
                "SELECT customer_id, action, level, status, still_asked, opened_at, due_at FROM tasks "
                "ORDER BY customer_id, action, opened_at").fetchall()
            events = db.execute(
                "SELECT t.customer_id, t.action, e.kind, d.client_request_id FROM task_events e "
                "JOIN tasks t ON t.id = e.task_id JOIN decisions d ON d.id = e.decision_id "
                "ORDER BY e.seq").fetchall()
            duplicate = db.execute("SELECT count(*) FROM (SELECT task_id, decision_id, kind FROM task_events "
                                   "GROUP BY 1, 2, 3 HAVING count(*) > 1)").fetchone()[0]
            logged = db.execute("SELECT count(*) FROM decisions").fetchone()[0]
            return [tasks, events, duplicate, logged]
        finally:
            db.close()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], max_examples=40,
          deadline=None)
@given(items=decisions, data=st.data())
def test_retries_in_any_order_never_duplicate_a_task(template_db, items, data):
    first_order = data.draw(st.permutations(list(range(len(items)))), label="order")
    retries = data.draw(st.lists(st.sampled_from(range(len(items))), max_size=6), label="retries")
    # retries come after the first attempt of each, mixed in anywhere later
    order = list(first_order)
    for index in retries:
        after = order.index(index) + 1
        order.insert(data.draw(st.integers(after, len(order)), label="where"), index)
    batches = data.draw(st.lists(st.integers(1, 4), max_size=4), label="batches")
    once = run(template_db[0], items, first_order, [])
    retried = run(template_db[0], items, order, batches)
    assert retried == once
    tasks, events, duplicate, logged = retried
    assert duplicate == 0 and logged == len(items)
    open_keys = [(t[0], t[1]) for t in tasks if t[3] == "open"]
    assert len(open_keys) == len(set(open_keys))
