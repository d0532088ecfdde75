"""Searching the decision log: every filter alone and with each other filter gives what a
plain Python filter over the same decisions gives, newest first, paged by a stable
cursor; full-text search finds a decision by a word of its explanation; an export holds
the same rows."""

import csv
import io
import itertools
import json

import pytest

from app.store import decision_log
from app.service import log_search as search
from app.store.errors import InvalidRequest

LEVELS = ("green", "yellow", "orange", "red")


def spec(n: int) -> dict:
    rules = [r for r, on in (("EXT-001", n % 3 == 0), ("UTL-001", n % 2 == 0), ("INC-002", n % 5 == 1)) if on]
    actions = [a for a, on in (("freeze_card", n % 4 == 0), ("reduce_limit", n % 3 == 1),
                               ("contact_customer", n % 5 != 0)) if on]
    return {"n": n, "customer_id": f"C-{n % 3}", "ruleset_id": "retail_card" if n % 2 else "sme_loan",
            "ruleset_version": 1 if n % 4 < 2 else 2, "level": LEVELS[n % 4 if n % 7 else 0],
            "decided_at": f"2026-04-{n:02d}T10:00:00.000000Z", "rules": rules, "actions": actions,
            "word": "gambling" if n == 17 else "salary" if n % 6 == 0 else "overdue"}


def decision(s: dict) -> decision_log.Decision:
    result = {"level": s["level"], "review_frequency": "monthly", "fired": s["rules"] + ["ACT-X"],
              "actions": [{"action": a, "title": a.replace("_", " "), "params": {}, "adverse": a != "contact_customer",
                           "rules": ["ACT-X"], "reason": f"{a} because of {s['word']} transfers"}
                          for a in s["actions"]],
              "overridden": [], "signals": []}
    trail = [{"order": i + 1, "rule": r, "title": f"title of {r}", "clause": "RCP 1", "condition": "x > 1",
              "values": {"x": 2}, "signals": [], "used_by": []} for i, r in enumerate(result["fired"])]
    return decision_log.Decision(
        id=f"dec-{s['n']:02d}", decided_at=s["decided_at"], customer_id=s["customer_id"], ruleset_id=s["ruleset_id"],
        ruleset_version=s["ruleset_version"], ruleset_hash="sha256:h", client_request_id=None,
        request_hash=f"sha256:{s['n']}", level=s["level"], review_frequency="monthly", snapshot="{}",
        result=json.dumps(result), trail=json.dumps(trail), response="{}")


SPECS = [spec(n) for n in range(1, 25)]

# Each filter, with a value and what it means in plain Python.
FILTERS = {
    "customer_id": ("C-1", lambda s: s["customer_id"] == "C-1"),
    "since": ("2026-04-05T00:00:00.000000Z", lambda s: s["decided_at"] >= "2026-04-05"),
    "until": ("2026-04-20T10:00:00.000000Z", lambda s: s["decided_at"] < "2026-04-20T10:00:00.000000Z"),
    "ruleset_id": ("retail_card", lambda s: s["ruleset_id"] == "retail_card"),
    "ruleset_version": (2, lambda s: s["ruleset_version"] == 2),
    "rule": ("EXT-001", lambda s: "EXT-001" in s["rules"]),
    "action": ("contact_customer", lambda s: "contact_customer" in s["actions"]),
    "level": ("yellow", lambda s: s["level"] == "yellow"),
    "q": ("salary", lambda s: s["word"] == "salary" and s["actions"]),
}


@pytest.fixture
def log(log_db):
    decision_log.record(log_db, [decision(s) for s in SPECS[:10]])
    for s in SPECS[10:]:
        decision_log.record(log_db, [decision(s)])
    return log_db


def found(db, **filters) -> list[str]:
    ids, cursor = [], None
    while True:
        page = search.search(db, search.Filters(**filters), cursor=cursor, limit=4)
        ids += [d["decision_id"] for d in page.decisions]
        cursor = page.next_cursor
        if cursor is None:
            return ids


def expected(*names) -> list[str]:
    return [f"dec-{s['n']:02d}" for s in reversed(SPECS) if all(FILTERS[n][1](s) for n in names)]


def test_no_filter_gives_every_decision_newest_first(log):
    assert found(log) == [f"dec-{n:02d}" for n in range(24, 0, -1)]


@pytest.mark.parametrize("name", FILTERS)
def test_each_filter_alone(log, name):
    want = expected(name)
    assert 0 < len(want) < 24, "the data must tell the filter apart from no filter"
    assert found(log, **{name: FILTERS[name][0]}) == want


@pytest.mark.parametrize("names", list(itertools.combinations(FILTERS, 2)), ids="+".join)
def test_each_pair_of_filters(log, names):
    assert found(log, **{n: FILTERS[n][0] for n in names}) == expected(*names)


def test_several_filters_at_once(log):
    names = ("customer_id", "ruleset_id", "action", "since")
    assert found(log, **{n: FILTERS[n][0] for n in names}) == expected(*names)
    assert expected(*names)


def test_full_text_finds_a_decision_by_a_word_of_its_explanation(log):
    assert found(log, q="gambling") == ["dec-17"]
    assert found(log, q="Gambling transfers") == ["dec-17"]
    assert found(log, q="INC-002") == [f"dec-{s['n']:02d}" for s in reversed(SPECS) if "INC-002" in s["rules"]]
    assert found(log, q="nothing-like-this") == []


def test_full_text_takes_any_text_safely(log):
    for text in ('NOT', 'a OR b', '*', 'x:y', "(", "'", 'NEAR(a b)', '"a', "gambling)"):
        search.search(log, search.Filters(q=text))
    for nothing in ('"', '""', ' '):
        with pytest.raises(InvalidRequest):
            search.search(log, search.Filters(q=nothing))


def test_the_cursor_is_stable_while_decisions_are_appended(log):
    first = search.search(log, search.Filters(), limit=5)
    decision_log.record(log, [decision(spec(25))])
    second = search.search(log, search.Filters(), cursor=first.next_cursor, limit=5)
    assert [d["decision_id"] for d in first.decisions] == [f"dec-{n:02d}" for n in range(24, 19, -1)]
    assert [d["decision_id"] for d in second.decisions] == [f"dec-{n:02d}" for n in range(19, 14, -1)]


def test_a_foreign_cursor_is_refused(log):
    for bad in ("nope", "c2VxOi0x", "!!!"):
        with pytest.raises(InvalidRequest):
            search.search(log, search.Filters(), cursor=bad)


def test_decisions_logged_after_a_search_are_indexed_by_the_next(log):
    assert found(log, q="gambling") == ["dec-17"]
    later = spec(26)
    later["word"] = "gambling"
    decision_log.record(log, [decision(later)])
    assert found(log, q="gambling") == ["dec-26", "dec-17"]


def test_a_search_with_an_index_budget_indexes_a_batch_and_says_how_far_it_reaches(log, monkeypatch):
    from app.store import search as store_search

    monkeypatch.setattr(store_search, "INDEX_BATCH", 4)
    newest = len(SPECS)
    # Nothing spent on indexing: one batch of 4 per search, and the page says so.
    page = search.search(log, search.Filters(q="overdue"), index_seconds=0)
    assert page.index.to_dict() == {"indexed_through": 4, "newest": newest, "complete": False}
    # Only indexed decisions are found by words, while filters on the log itself find all.
    assert {d["seq"] for d in page.decisions} <= {1, 2, 3, 4} and page.decisions
    assert search.search(log, search.Filters(level="green"), index_seconds=0).index is None
    exported = search.export(log, search.Filters(q="overdue"), "jsonl", index_seconds=0)
    assert exported.through_seq == 8
    assert {json.loads(line)["seq"] for line in "".join(exported.chunks).splitlines()} <= set(range(1, 9))
    # Each search moves it on; without a budget it indexes everything.
    assert search.search(log, search.Filters(rule="EXT-001"), index_seconds=0).index.indexed_through == 12
    page = search.search(log, search.Filters(action="freeze_card"))
    assert page.index.to_dict() == {"indexed_through": newest, "newest": newest, "complete": True}
    assert found(log, q="gambling") == ["dec-17"]


def test_a_summary_names_the_actions_and_the_rules(log):
    [first] = search.search(log, search.Filters(customer_id="C-0", rule="EXT-001"), limit=1).decisions
    assert first["decision_id"] == "dec-24"
    assert first["ruleset"] == {"id": "sme_loan", "version": 1, "hash": "sha256:h"}
    assert [a["action"] for a in first["actions"]] == ["freeze_card", "contact_customer"]
    assert first["fired"] == ["EXT-001", "UTL-001", "ACT-X"] and first["purged_at"] is None


@pytest.mark.parametrize("fmt", search.EXPORT_FORMATS)
def test_an_export_holds_what_the_search_finds(log, fmt):
    filters = search.Filters(ruleset_id="retail_card", action="contact_customer")
    exported = search.export(log, filters, fmt)
    text = "".join(exported.chunks)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        ids = [r["decision_id"] for r in rows]
        assert rows[0]["actions"].endswith("contact_customer") and rows[0]["chain_hash"]
    else:
        rows = [json.loads(line) for line in text.splitlines()]
        ids = [r["decision_id"] for r in rows]
        assert rows[0]["result"]["actions"] and rows[0]["ruleset"]["id"] == "retail_card"
    assert ids == found(log, **filters.to_dict()) and exported.count == len(ids) > 0
    assert exported.through_seq == 24


def test_an_export_does_not_take_decisions_logged_while_it_runs(log):
    exported = search.export(log, search.Filters(), "jsonl")
    first = next(exported.chunks)
    decision_log.record(log, [decision(spec(25))])
    rest = "".join(exported.chunks)
    assert len((first + rest).splitlines()) == exported.count == 24


def test_an_unknown_export_format_is_refused(log):
    with pytest.raises(InvalidRequest):
        search.export(log, search.Filters(), "xlsx")
