"""Each measured crash mode of durable_rules 2.0.28, and proof Vigil's engine avoids it.

The ``raw_*`` tests show the hazard in durable_rules itself (in a child process where it
crashes), so that a future upgrade that fixes or changes it is noticed; the other tests
show that no request pattern reaches it through Vigil's engine.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from app.engine import EvaluationError, SnapshotInvalid, load_library
from app.engine import runtime

from .helpers import rule, ruleset, snap

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


# -- delete_state after nothing fired ---------------------------------------------------

def test_raw_delete_state_after_nothing_fired_segfaults():
    out = run_python("""
        from durable.engine import Host
        host = Host()
        host.register_rulesets({"hx": {"r": {"all": [{"m": {"t": "x"}}], "run": lambda c: None}}})
        try:
            host.assert_fact("hx", {"sid": "1", "id": "a", "t": "y"})
        except Exception:
            pass
        host.delete_state("hx", "1")
        print("survived")
    """)
    assert out.returncode == -11, (out.returncode, out.stdout, out.stderr)


def test_engine_survives_evaluations_where_nothing_fires():
    out = run_python("""
        from tests.engine.helpers import rule, ruleset, snap
        rs = ruleset([rule("A", "overdue_6m > 50")])
        for i in range(2000):
            ev = rs.evaluate(snap(overdue_6m=i % 2))
            assert ev.fired == (), ev.fired
        print(rs.matcher.handles_created, rs.matcher.handles_abandoned)
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "0"]


def test_each_evaluation_leaves_the_one_session_empty():
    # evaluations share one session per handle; each retracts what it asserted, so the
    # next one starts from nothing (a left-over signal would cancel a "not signal(...)")
    rs = ruleset([rule("A", "overdue_6m >= 1", signals=["s"]), rule("B", "signal(s) and card.dpd > 5", level="red"),
                  rule("C", "not signal(s)", actions=["maintain"]), rule("D", "card.dpd > 100", level="red")])
    for od, dpd, expected in [(1, 10, ("A", "B")), (0, 10, ("C",)), (1, 0, ("A",)), (0, 200, ("C", "D")),
                              (0, 0, ("C",)), (1, 200, ("A", "B", "D"))]:
        assert rs.evaluate(snap(overdue_6m=od, card={"dpd": dpd})).fired == expected, (od, dpd)
        assert runtime._dr.get_facts(rs.matcher._handle, runtime.SID) == "[]"
    assert rs.matcher.handles_created == 1 and rs.matcher.handles_abandoned == 0


def test_raw_retracting_every_fact_empties_a_session_that_lives_on():
    out = run_python("""
        import json, durable_rules_engine as dr
        rules = {"r": {"all": [{"m": {"$and": [{"t": "s"}, {"$gt": {"x": 50}}]}}, {"q$not": {"t": "g"}}]}}
        h = dr.create_ruleset("raw_retract", json.dumps(rules))
        fired = []
        for x in (60, 60, 1, 60):
            s = json.dumps({"sid": "1", "id": "s", "t": "s", "x": x})
            g = json.dumps({"sid": "1", "id": "g", "t": "g"})
            dr.assert_fact(h, g)
            dr.assert_fact(h, s)
            fired.append("yes" if dr.start_action(h) else "no")
            dr.retract_facts(h, "[" + s + "," + g + "]")
            dr.assert_fact(h, s)
            result = dr.start_action(h)
            fired.append("yes" if result else "no")
            if result:
                dr.complete_and_start_action(h, result[2])
            dr.retract_fact(h, s)
        print(" ".join(fired), dr.get_facts(h, "1"))
    """)
    assert out.stdout.split() == ["no", "yes", "no", "yes", "no", "no", "no", "yes", "[]"], out.stderr


# -- 1,024 live sessions ---------------------------------------------------------------

def test_raw_1025th_live_session_is_refused():
    out = run_python("""
        import json, durable_rules_engine as dr
        h = dr.create_ruleset("raw_sessions", json.dumps({"r": {"all": [{"m": {"t": "x"}}]}}))
        for i in range(1100):
            try:
                dr.assert_fact(h, json.dumps({"sid": str(i), "id": "a", "t": "x"}))
            except MemoryError:
                print("refused", i); break
    """)
    assert out.stdout.strip() == "refused 1024", (out.stdout, out.stderr)


def test_engine_runs_far_more_evaluations_than_live_sessions_from_many_threads():
    rs = ruleset([rule("A", "overdue_6m >= 1", signals=["s"]), rule("B", "signal(s) and card.dpd > 5", level="red"),
                  rule("C", "not signal(s)", actions=["maintain"])])
    errors: list[BaseException] = []

    def worker(seed: int):
        try:
            for i in range(400):
                od = (i + seed) % 3
                ev = rs.evaluate(snap(overdue_6m=od, card={"dpd": 10}))
                expected = ("A", "B") if od else ("C",)
                assert ev.fired == expected, (od, ev.fired)
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert rs.matcher.handles_created == 1 and rs.matcher.handles_abandoned == 0


# -- timer threads ------------------------------------------------------------------------

def test_no_timer_threads_and_no_stolen_actions():
    before = threading.active_count()
    lib = load_library(ROOT / "rulesets", ROOT / "schemas")
    rs = lib.ruleset("retail_card")
    snapshot = json.loads((ROOT / "tests" / "data" / "retail_card_red.json").read_text())
    full = rs.evaluate(snapshot).fired
    assert len(full) >= 5
    for _ in range(2000):
        assert rs.evaluate(snapshot).fired == full
    assert threading.active_count() == before


# -- negation and assertion order ---------------------------------------------------------

def test_raw_negation_depends_on_assertion_order():
    out = run_python("""
        import json, durable_rules_engine as dr
        rules = {"guard": {"all": [{"c": {"t": "customer"}}, {"x$not": {"$and": [{"t": "sig"}, {"n": "legal"}]}}]},
                 "derive": {"all": [{"c": {"t": "customer"}}]}}
        h = dr.create_ruleset("raw_neg", json.dumps(rules))
        dr.assert_fact(h, json.dumps({"sid": "1", "id": "c", "t": "customer"}))
        fired = []
        _s, msg, sh = dr.start_action(h)
        while msg:
            name = msg[2:msg.index('"', 2)]
            fired.append(name)
            if name == "derive":
                dr.assert_fact(h, json.dumps({"sid": "1", "id": "g", "t": "sig", "n": "legal"}))
            msg = dr.complete_and_start_action(h, sh)
        print(" ".join(fired))
    """)
    # the guard fired although the signal it negates was derived in the same evaluation
    assert out.stdout.split() == ["guard", "derive"], out.stderr


def test_engine_negation_waits_for_the_signal():
    rs = ruleset([rule("GUARD", "not signal(legal)", priority=100, actions=["maintain"]),
                  rule("DERIVE", "overdue_6m >= 0", priority=-100, signals=["legal"])])
    assert rs.evaluate(snap(overdue_6m=0)).fired == ("DERIVE",)


# -- "45" > 30 ----------------------------------------------------------------------------

def test_raw_string_compares_greater_than_number():
    out = run_python("""
        import json, durable_rules_engine as dr
        h = dr.create_ruleset("raw_string", json.dumps({"r": {"all": [{"m": {"$gt": {"n": 30}}}]}}))
        dr.assert_fact(h, json.dumps({"sid": "1", "id": "a", "n": "45"}))
        print("fired" if dr.start_action(h) else "no match")
    """)
    assert out.stdout.strip() == "fired"


def test_engine_refuses_strings_where_numbers_are_expected():
    rs = ruleset([rule("A", "overdue_6m > 30")])
    for bad in ("45", True, None, [45], {"n": 45}):
        with pytest.raises(SnapshotInvalid):
            rs.evaluate(snap(overdue_6m=bad))


# -- action errors swallowed / partial results --------------------------------------------

def test_a_failure_mid_evaluation_gives_an_error_never_a_partial_result(monkeypatch):
    rs = ruleset([rule(f"R{i}", "overdue_6m >= 1", signals=[f"s{i}"]) for i in range(6)] +
                 [rule("LAST", "signal(s5)", level="red")])
    good = rs.evaluate(snap(overdue_6m=1))
    assert len(good.fired) == 7
    calls = {"n": 0}
    real = runtime._dr.assert_fact

    def flaky(handle, fact):
        calls["n"] += 1
        if calls["n"] == 4:
            raise runtime._dr.error("simulated engine failure")
        return real(handle, fact)

    monkeypatch.setattr(runtime._dr, "assert_fact", flaky)
    with pytest.raises(EvaluationError):
        rs.evaluate(snap(overdue_6m=1))
    monkeypatch.setattr(runtime._dr, "assert_fact", real)
    assert rs.matcher.handles_abandoned == 1
    again = rs.evaluate(snap(overdue_6m=1))
    assert again.fired == good.fired and again.level == "red"
    assert rs.matcher.handles_created == 2


def test_an_error_in_vigils_own_code_mid_evaluation_is_contained(monkeypatch):
    rs = ruleset([rule("A", "overdue_6m >= 1", signals=["s"]), rule("B", "signal(s)", level="red")])
    import heapq
    real = heapq.heappush

    def boom(*a):
        raise RuntimeError("bug")

    monkeypatch.setattr(heapq, "heappush", boom)
    with pytest.raises(EvaluationError):
        rs.evaluate(snap(overdue_6m=1))
    monkeypatch.setattr(heapq, "heappush", real)
    assert rs.evaluate(snap(overdue_6m=1)).fired == ("A", "B")


# -- names, versions side by side, forked workers -------------------------------------------

def test_raw_host_refuses_a_second_ruleset_of_the_same_name():
    out = run_python("""
        from durable.engine import Host
        host = Host()
        host.register_rulesets({"same": {"r": {"all": [{"m": {"t": "x"}}], "run": lambda c: None}}})
        try:
            host.register_rulesets({"same": {"r": {"all": [{"m": {"t": "y"}}], "run": lambda c: None}}})
            print("accepted")
        except Exception as exc:
            print("refused")
    """)
    assert out.stdout.strip() == "refused", out.stderr


def test_every_handle_gets_a_process_unique_name():
    a = ruleset([rule("A", "overdue_6m > 1")])
    b = ruleset([rule("A", "overdue_6m > 1")])
    a.warm()
    b.warm()
    assert a.matcher.base_name == b.matcher.base_name == "t@1"
    assert a.evaluate(snap(overdue_6m=2)).fired == b.evaluate(snap(overdue_6m=2)).fired == ("A",)


def _child(rs, queue):
    queue.put((os.getpid(), rs.evaluate(snap(overdue_6m=2)).fired, rs.matcher.handles_created))


def test_forked_worker_builds_its_own_handle():
    rs = ruleset([rule("A", "overdue_6m > 1")])
    assert rs.evaluate(snap(overdue_6m=2)).fired == ("A",)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    p = ctx.Process(target=_child, args=(rs, queue))
    p.start()
    pid, fired, created = queue.get(timeout=60)
    p.join(60)
    assert p.exitcode == 0
    assert pid != os.getpid() and fired == ("A",) and created == 2
    assert rs.evaluate(snap(overdue_6m=2)).fired == ("A",)


# -- what never reaches the C core ----------------------------------------------------------

def test_compiled_rulesets_use_no_regex_and_no_cross_fact_joins():
    lib = load_library(ROOT / "rulesets", ROOT / "schemas")
    for rs in lib.rulesets():
        text = json.dumps(rs.definition)
        assert '"$mt"' not in text and '"$imt"' not in text   # regexes leak in the C core
        for name, body in rs.definition.items():
            for fact in body["all"]:
                (alias, expr), = fact.items()
                # joins between facts only on constants: never a field of another fact
                assert "$m" not in json.dumps(expr) or alias == "m"


# -- "$or" inside list quantifiers ------------------------------------------------------------

def test_raw_or_inside_iany_lets_a_later_false_operand_win():
    out = run_python("""
        import json, durable_rules_engine as dr
        expr = {"$iany": {"l": {"$or": [{"$i.a": 1}, {"$i.b": 1}]}}}
        h = dr.create_ruleset("raw_or", json.dumps({"r": {"all": [{"m": {"$and": [{"t": "s"}, expr]}}]}}))
        dr.assert_fact(h, json.dumps({"sid": "0", "id": "s", "t": "s", "l": [{"a": 1, "b": 0}]}))
        print("fired" if dr.start_action(h) else "no match")
    """)
    # a = 1 makes "a == 1 or b == 1" true, yet durable_rules does not match
    assert out.stdout.strip() == "no match", out.stderr


def test_engine_or_inside_quantifiers_is_right():
    rs = ruleset([rule("R", "any(l in loans: l.dpd == 0 or l.restructured)", level="red"),
                  rule("S", "all(l in loans: l.dpd > 5 or l.restructured)", level="yellow"),
                  rule("T", 'any(l in loans: l.dpd in [0, 7])', level="orange")])
    ev = rs.evaluate(snap(loans=[{"dpd": 0, "restructured": False}]))
    assert set(ev.fired) == {"R", "T"}
    ev = rs.evaluate(snap(loans=[{"dpd": 9, "restructured": False}, {"dpd": 1, "restructured": True}]))
    assert set(ev.fired) == {"R", "S"}

    def list_bodies(expr):
        if isinstance(expr, dict):
            for key, value in expr.items():
                if key in ("$iany", "$iall"):
                    yield from value.values()
                yield from list_bodies(value)
        elif isinstance(expr, list):
            for value in expr:
                yield from list_bodies(value)

    bodies = list(list_bodies(rs.definition))
    assert len(bodies) == 3
    assert all('"$or"' not in json.dumps(body) for body in bodies)
