"""An author's ruleset is compiled, and its scenarios run, in a checker process within a
budget of CPU time, memory and time: past it the check is refused naming the budget,
nothing is stored, and the checker is replaced. (These drafts used to be checked in the
serving worker's thread, for as long and as much memory as they took.)"""

import copy
import json
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest
import yaml

from app.service import checker, policies
from app.store.audit import Actor
from tests.conftest import ROOT
from tests.policies import RETAIL, RETAIL_SCENARIOS, act010_cut

ALICE = Actor("alice.author")


@pytest.fixture
def budget():
    """checker settings for one test; the defaults again afterwards."""
    def use(**settings):
        checker.configure(checker.Settings(**settings))
        return checker.pool()
    yield use
    checker.configure(checker.Settings())


def many_scenarios(n: int) -> dict:
    tests = yaml.safe_load(RETAIL_SCENARIOS)
    tests["scenarios"] = [{"name": f"s{i}", "base": "clean", "expect": {"level": "green"}} for i in range(n)]
    return tests


def versions(db) -> int:
    return db.execute("SELECT count(*) FROM ruleset_versions").fetchone()[0]


def alive(pid: int) -> bool:
    """Whether the process still runs: not gone, and not a zombie whose threads have all
    ended (until they have, its parent cannot see it end)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            status = dict(line.split(":", 1) for line in fh if ":" in line)
    except FileNotFoundError:
        return False
    return not (status["State"].strip().startswith("Z") and int(status["Threads"]) <= 1)


def test_a_normal_draft_is_checked_and_stored(log_db, budget):
    budget()
    before = versions(log_db)
    draft = policies.create_draft(log_db, "retail_card", RETAIL.replace("percent: 30", "percent: 31"),
                                  RETAIL_SCENARIOS, ALICE)
    submitted = policies.submit(log_db, "retail_card", draft.version, ALICE)
    assert versions(log_db) == before + 1
    assert submitted.scenario_results["passed"] > 0
    assert submitted.hash == draft.hash and draft.hash.startswith("sha256:")


def test_scenarios_past_the_cpu_budget_are_refused_and_the_draft_stays_a_draft(log_db, budget):
    budget(cpu_seconds=1, wall_seconds=60)
    draft = policies.create_draft(log_db, "retail_card", RETAIL, many_scenarios(20_000), ALICE)
    started = time.monotonic()
    with pytest.raises(checker.CheckBudgetExceeded) as refused:
        policies.submit(log_db, "retail_card", draft.version, ALICE)
    assert time.monotonic() - started < 30  # about 30 s of CPU without the budget
    assert refused.value.details[0]["budget"] == "cpu"
    assert "1 s of CPU time (VIGIL_CHECK_CPU_SECONDS)" in refused.value.message
    assert policies.get_version(log_db, "retail_card", draft.version).status == "draft"
    # The checker the kernel stopped is replaced: the next check is answered.
    assert policies.check_draft(log_db, "retail_card", draft.version, RETAIL).rules > 0


def test_a_check_past_the_time_budget_is_stopped_and_its_checker_replaced(log_db, budget):
    pool = budget(cpu_seconds=60, wall_seconds=3)
    draft = policies.create_draft(log_db, "retail_card", RETAIL, many_scenarios(20_000), ALICE)
    before = set(pool.pids())
    started = time.monotonic()
    with pytest.raises(checker.CheckBudgetExceeded) as refused:
        policies.submit(log_db, "retail_card", draft.version, ALICE)
    assert time.monotonic() - started < 15  # about 30 s of CPU without the budget
    assert refused.value.details[0]["budget"] == "time"
    assert not any(alive(pid) for pid in before)
    assert policies.check_draft(log_db, "retail_card", draft.version, RETAIL).rules > 0
    assert set(pool.pids()) and not set(pool.pids()) & before


def test_a_draft_past_the_memory_budget_is_refused_and_nothing_is_stored(log_db, budget):
    # 500,000 empty rules fit in a 2 MiB body and took 480 MB and 3.5 s to refuse in a
    # worker, answering 500,000 problems.
    budget(memory_mb=512, wall_seconds=60)
    document = yaml.safe_load(RETAIL)
    document["rules"] = [{}] * 500_000
    before = versions(log_db)
    with pytest.raises(checker.CheckBudgetExceeded) as refused:
        policies.create_draft(log_db, "retail_card", document, None, ALICE)
    assert refused.value.details[0]["budget"] == "memory"
    assert versions(log_db) == before


def test_an_invalid_draft_lists_at_most_a_hundred_problems(log_db, budget):
    budget()
    document = yaml.safe_load(RETAIL)
    document["rules"] = [{}] * 1_000
    with pytest.raises(policies.RulesetInvalid) as refused:
        policies.create_draft(log_db, "retail_card", document, None, ALICE)
    details = refused.value.details
    assert len(details) == checker.MAX_PROBLEMS + 1 and "more problem(s), not listed" in details[-1]["message"]
    assert len(refused.value.problems) == checker.MAX_PROBLEMS


def test_a_checker_that_died_while_idle_is_replaced(log_db, budget):
    pool = budget()
    pool.start()
    (pid,) = pool.pids()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert policies.check_draft(log_db, "retail_card", 9, RETAIL).key == "retail_card@9"
    assert pool.pids() and pid not in pool.pids()


def test_the_checkers_stop_with_the_pool_and_with_the_process_that_started_them(budget):
    pool = budget(checkers=2)
    pool.start()
    pids = pool.pids()
    assert len(pids) == 2 and all(alive(pid) for pid in pids)
    checker.shutdown()
    assert not any(alive(pid) for pid in pids)
    # A process killed outright (a gunicorn worker past its timeout) cleans up nothing:
    # its checkers see their socket close and exit on their own.
    code = ("import os; from app.service import checker; checker.start(); "
            "print(*checker.pool().pids(), flush=True); os.kill(os.getpid(), 9)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    orphans = [int(pid) for pid in out.stdout.split()]
    assert orphans, out.stderr
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in orphans) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in orphans)


def test_errors_cross_the_process_boundary_whole():
    from app.engine import Problem, RulesetInvalid

    error = RulesetInvalid([Problem("retail_card@2", "unknown field", rule="R-1", path="when")])
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is RulesetInvalid and again.problems == error.problems
    assert again.details == error.details and again.message == error.message and str(again) == str(error)


def test_a_draft_past_its_budget_is_refused_over_http_and_nothing_is_stored(client, budget):
    budget(cpu_seconds=1, wall_seconds=60)
    tests = many_scenarios(20_000)
    response = client.post("/v1/rulesets/retail_card/versions", json={"document": yaml.safe_load(RETAIL),
                                                                       "scenarios": tests})
    assert response.status_code == 201
    version = response.get_json()["version"]
    response = client.post(f"/v1/rulesets/retail_card/versions/{version}/submit")
    body = response.get_json()
    assert response.status_code == 422 and body["error"]["reason"] == "check_budget_exceeded", body
    assert body["error"]["details"][0]["budget"] == "cpu"
    assert client.get(f"/v1/rulesets/retail_card/versions/{version}").get_json()["status"] == "draft"


def test_approval_reruns_the_scenarios_in_a_checker_and_a_refusal_is_an_audit_event(log_db, budget):
    budget()
    # A draft whose scenarios all pass (so an approval that ran would succeed), with ten
    # times the scenarios: running them takes far longer than the time budget below.
    document, text = act010_cut(35)
    tests = yaml.safe_load(text)
    tests["scenarios"] = [dict(s, name=f"{s['name']} ({n})") for n in range(10) for s in tests["scenarios"]]
    draft = policies.create_draft(log_db, "retail_card", document, tests, ALICE)
    policies.submit(log_db, "retail_card", draft.version, ALICE)
    budget(cpu_seconds=1, wall_seconds=0.005)  # too little time for 320 scenarios
    with pytest.raises(checker.CheckBudgetExceeded):
        policies.approve(log_db, "retail_card", draft.version, Actor("bob.approver"))
    assert policies.get_version(log_db, "retail_card", draft.version).status == "submitted"
    events = log_db.execute("SELECT action FROM audit_events WHERE target = ?", [draft.target]).fetchall()
    assert ("version.approve_refused",) in events


@pytest.mark.parametrize("setting, value", [("VIGIL_CHECKERS", "0"), ("VIGIL_CHECK_CPU_SECONDS", "0"),
                                            ("VIGIL_CHECK_MEMORY_MB", "100"), ("VIGIL_CHECK_SECONDS", "0")])
def test_budgets_out_of_range_stop_the_start(setting, value):
    from app.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=setting):
        load_config(environ={setting: value})


def test_a_stored_version_is_compiled_in_a_checker_before_a_worker_loads_it(log_db, budget):
    from app.service import served

    budget()
    first = served.load(log_db, check=served.in_a_checker(log_db))
    assert not first.failures and first.ruleset("retail_card").version == 1
    draft = policies.create_draft(log_db, "retail_card", *act010_cut(35), ALICE)
    policies.submit(log_db, "retail_card", draft.version, ALICE)
    policies.approve(log_db, "retail_card", draft.version, Actor("bob.approver"))
    # A version whose check goes past the budget (a fresh checker cannot compile one in
    # a millisecond) is left out; the versions loaded before are served as they were.
    budget(wall_seconds=0.001)
    again = served.load(log_db, first, check=served.in_a_checker(log_db))
    assert list(again.failures) == [f"ruleset:retail_card@{draft.version}"]
    assert "ruleset checker went over 0.001 s of time" in again.failures[draft.target][0]["message"]
    assert again.ruleset("retail_card").version == 1
    assert again.ruleset("retail_card", 1) is first.ruleset("retail_card", 1)


def test_the_consoles_scenario_runs_and_trials_run_in_a_checker(log_db, budget):
    from tests.conftest import DELINQUENT_SNAPSHOT

    budget()
    draft = policies.create_draft(log_db, "retail_card", RETAIL, many_scenarios(20_000), ALICE)
    answer = json.loads(policies.try_version(log_db, "retail_card", draft.version, copy.deepcopy(DELINQUENT_SNAPSHOT)))
    assert answer["ruleset"]["version"] == draft.version and answer["level"]
    budget(cpu_seconds=1, wall_seconds=60)
    with pytest.raises(checker.CheckBudgetExceeded) as refused:
        policies.scenario_outcomes(log_db, policies.get_version(log_db, "retail_card", draft.version))
    assert refused.value.details[0]["budget"] == "cpu"
    budget(wall_seconds=0.001)  # a fresh checker cannot compile the draft in a millisecond
    with pytest.raises(checker.CheckBudgetExceeded):
        policies.try_version(log_db, "retail_card", draft.version, copy.deepcopy(DELINQUENT_SNAPSHOT))
