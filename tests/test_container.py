"""What the container relies on, run here without Docker: the entrypoint runs a given
command instead of the server, or prepares the database and serves; the health check
asks the port the service was told to bind; the worker count follows the CPU limit."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from app import config
from app.healthcheck import readyz_url
from tests.conftest import BIN, ROOT, free_port

ENTRYPOINT = str(ROOT / "bin" / "docker-entrypoint")


def _env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIGIL_", "FLASK_"))}
    return {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "VIGIL_DATABASE": str(tmp_path / "vigil.db"),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), **extra}


def test_the_entrypoint_runs_a_given_command_instead_of_the_server(tmp_path):
    out = subprocess.run([ENTRYPOINT, "flask", "--app", "wsgi", "db", "status"], cwd=ROOT, env=_env(tmp_path),
                         capture_output=True, text=True, timeout=60)
    # the command ran as given, on a database nobody migrated (the server path would have)
    assert out.returncode == 1 and "cannot open the decision log" in out.stderr
    assert not (tmp_path / "vigil.db").exists()


@pytest.mark.live
def test_without_a_command_it_migrates_imports_and_serves_where_the_health_check_asks(tmp_path):
    port = free_port()
    env = _env(tmp_path, VIGIL_BIND=f"127.0.0.1:{port}", VIGIL_WORKERS="1")
    log = open(tmp_path / "server.log", "wb")
    server = subprocess.Popen([ENTRYPOINT], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        check = [sys.executable, "-m", "app.healthcheck"]
        deadline = time.monotonic() + 90
        while subprocess.run(check, cwd=ROOT, env=env, capture_output=True).returncode != 0:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.2)
        elsewhere = subprocess.run(check, cwd=ROOT, env={**env, "VIGIL_BIND": f"0.0.0.0:{free_port()}"},
                                   capture_output=True, text=True)
        assert elsewhere.returncode == 1 and "not ready" in elsewhere.stderr
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()
    text = (tmp_path / "server.log").read_text()
    assert "applied m001_decision_log" in text and "imported from rulesets/retail_card.yaml" in text


@pytest.mark.parametrize("bind,url", [
    ("0.0.0.0:8000", "http://127.0.0.1:8000/readyz"),
    ("127.0.0.1:9001", "http://127.0.0.1:9001/readyz"),
    (":8080", "http://127.0.0.1:8080/readyz"),
    ("[::]:9000", "http://[::1]:9000/readyz"),
    ("0.0.0.0:7000,[::]:7000", "http://127.0.0.1:7000/readyz"),
])
def test_the_health_check_follows_the_bind(bind, url):
    assert readyz_url(bind) == url


def test_a_bind_without_a_port_is_refused():
    with pytest.raises(ValueError, match="names no TCP port"):
        readyz_url("unix:/run/vigil.sock")


def _cgroup(tmp_path, v2: str | None = None, v1: tuple[int, int] | None = None):
    if v2 is not None:
        (tmp_path / "cpu.max").write_text(v2 + "\n")
    if v1 is not None:
        (tmp_path / "cpu").mkdir()
        (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(f"{v1[0]}\n")
        (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(f"{v1[1]}\n")
    return tmp_path


@pytest.mark.parametrize("v2,v1,limit", [
    ("150000 100000", None, 1.5),     # docker run --cpus 1.5 (cgroup v2)
    ("max 100000", None, None),       # no limit
    (None, (50000, 100000), 0.5),     # cgroup v1
    (None, (-1, 100000), None),
    (None, None, None),
])
def test_the_cpu_limit_is_read_from_the_cgroup(tmp_path, v2, v1, limit):
    assert config.cgroup_cpu_limit(_cgroup(tmp_path, v2, v1)) == limit


def test_workers_follow_the_cpu_limit_with_a_cap(tmp_path, monkeypatch):
    cores = len(os.sched_getaffinity(0))
    assert config.usable_cpus(_cgroup(tmp_path / "none")) == cores
    half = _cgroup(tmp_path, v2="50000 100000")
    assert config.usable_cpus(half) == 1 and config.default_workers(half) == 1
    # a host with 32 cores, in a container limited to 3.5 CPUs, and without a limit
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(32)))
    (tmp_path / "big").mkdir()
    assert config.default_workers(_cgroup(tmp_path / "big", v2="350000 100000")) == 4
    assert config.default_workers(tmp_path / "no-such-cgroup") == config.MAX_DEFAULT_WORKERS == 8


def test_gunicorn_takes_the_default_unless_told(tmp_path):
    probe = "import runpy; print(runpy.run_path('gunicorn.conf.py')['workers'])"
    env = _env(tmp_path)
    assert subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == str(config.default_workers())
    told = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env={**env, "VIGIL_WORKERS": "3"},
                          capture_output=True, text=True, check=True)
    assert told.stdout.strip() == "3"
