"""Fixtures shared by the store and API tests: a migrated temporary database holding the
shipped policies and an API key per role, the app on it, and a gunicorn server on
127.0.0.1 for live tests."""

from __future__ import annotations

import copy
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from app.api import examples as _examples

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# Property tests. "ci": derandomized (the examples follow from the test alone), a fixed
# budget of examples and no example database, so a CI run tries the same examples
# every time. "dev": random examples, so local runs keep exploring, and failures found
# are remembered and tried first. Neither fails on timing: a loaded machine is slow,
# not wrong. CI=true or HYPOTHESIS_PROFILE=ci selects "ci".
# (Hypothesis picks its own "ci" profile whenever CI is set at all, even CI=false: both
# are built on its plain defaults instead.)
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True, database=None,
                          max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          print_blob=True)
settings.register_profile("dev", parent=settings.get_profile("default"), deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])


def hypothesis_profile(environ) -> str:
    chosen = environ.get("HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    return "ci" if environ.get("CI", "").strip().lower() in {"true", "1"} else "dev"


settings.load_profile(hypothesis_profile(os.environ))

# The README's example customer: two accounts 30+ days overdue at other banks and the
# card 85% used (the policy example in docs/DOMAIN).
DELINQUENT_SNAPSHOT = copy.deepcopy(_examples.DECISION_REQUEST["snapshot"])


def clean_snapshot(customer_id: str = "C-100002") -> dict:
    snap = copy.deepcopy(DELINQUENT_SNAPSHOT)
    snap["customer"]["id"] = customer_id
    snap["card"].update({"balance": "6000.00", "utilization": "0.3000"})
    snap["credit_report"]["other_banks"].update(
        {"overdue_accounts_6m": 0, "overdue_accounts_12m": 0, "overdue_accounts_24m": 0, "worst_dpd": 0})
    return snap


def decision_request(snapshot: dict | None = None, **fields) -> dict:
    """A POST /v1/decisions body; a customer_id given names the snapshot's customer too
    (the two must agree)."""
    body = {"ruleset_id": "retail_card", "customer_id": "C-100001",
            "snapshot": copy.deepcopy(snapshot or DELINQUENT_SNAPSHOT)}
    body.update(fields)
    customer = body["snapshot"].get("customer") if isinstance(body["snapshot"], dict) else None
    if isinstance(customer, dict) and isinstance(customer.get("id"), str):
        if "customer_id" in fields:
            customer["id"] = fields["customer_id"]
        else:
            body["customer_id"] = customer["id"]
    return body


# The person behind each test key: four eyes compare owners.
KEY_OWNERS = {"decide": "loan-system", "author": "alice.author", "approve": "bob.approver",
              "audit": "carol.compliance", "legal": "lee.legal", "officer": "rm-0042", "admin": "ada.admin"}


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> tuple[str, dict[str, str]]:
    """A migrated database with the shipped policies imported and one key per role,
    built once and copied for each test (importing compiles every ruleset, and a key
    costs an scrypt hash)."""
    from app import store
    from app.service import policies
    from app.store import keys
    from app.store.audit import Actor

    path = str(tmp_path_factory.mktemp("template") / "vigil.db")
    db = store.create(path)
    store.migrate(db)
    db.close()
    db = store.connect(path)
    policies.import_files(db, ROOT / "rulesets", ROOT / "schemas")
    tokens = {}
    for role, owner in KEY_OWNERS.items():
        _, tokens[role] = keys.create_key(db, name=f"test-{role}", owner=owner, roles=[role],
                                          actor=Actor("test setup"))
    db.close()
    return path, tokens


@pytest.fixture
def empty_db_path(tmp_path) -> str:
    """A migrated database with nothing in it: no policies, no keys."""
    from app import store

    path = str(tmp_path / "empty.db")
    store.migrate(store.create(path))
    return path


@pytest.fixture
def empty_db(empty_db_path):
    """The empty database, open (closed after the test)."""
    from app import store

    db = store.connect(empty_db_path)
    yield db
    db.close()


@pytest.fixture
def db_path(tmp_path, template_db) -> str:
    path = str(tmp_path / "vigil.db")
    shutil.copyfile(template_db[0], path)
    return path


@pytest.fixture
def api_keys(template_db) -> dict[str, str]:
    """role -> the key of a test key that has only that role (see KEY_OWNERS)."""
    return dict(template_db[1])


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def console_client(app, key: str):
    """A Flask test client signed in to the console with ``key``, through its sign-in form."""
    client = app.test_client()
    form = client.get("/console/sign-in").get_data(as_text=True)
    token = re.search(r'name="sign_in_token" value="([^"]+)"', form).group(1)
    signed = client.post("/console/sign-in", data={"sign_in_token": token, "api_key": key})
    assert signed.status_code in (302, 303), signed.data
    return client


@pytest.fixture
def log_db(db_path):
    from app import store

    db = store.connect(db_path)
    yield db
    db.close()


@pytest.fixture
def app(db_path):
    from app import create_app

    # Check for policy changes on every request, so a test sees its change at once.
    return create_app({"VIGIL_DATABASE": db_path, "VIGIL_REQUIRE_RULESETS": True, "TESTING": True,
                       "VIGIL_POLICY_CHECK_SECONDS": 0})


@pytest.fixture
def as_role(app, api_keys):
    """as_role("author").post(...): a test client sending that role's key."""
    def make(role):
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_keys[role]}"
        return client
    return make


@pytest.fixture
def client(app, api_keys):
    """A test client that sends the admin key (admin may call every endpoint)."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_keys['admin']}"
    return client


@pytest.fixture
def anonymous(app):
    """A test client that sends no key."""
    return app.test_client()


# ---------------------------------------------------------------- live gunicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """gunicorn serving wsgi:app, started the way `make run` starts it."""

    def __init__(self, workdir: Path, workers: int = 2, threads: int = 4, env: dict | None = None,
                 prefix: list[str] | None = None):
        self.port = free_port()
        self.db_path = str(workdir / "vigil.db")
        self.log_path = workdir / "gunicorn.log"
        self.env = {**os.environ, "VIGIL_DATABASE": self.db_path, "VIGIL_BIND": f"127.0.0.1:{self.port}",
                    "VIGIL_WORKERS": str(workers), "VIGIL_THREADS": str(threads),
                    "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"), **(env or {})}
        self.env.pop("VIGIL_REQUIRE_RULESETS", None)
        self.prefix = prefix or []
        self.process: subprocess.Popen | None = None
        self.key: str | None = None

    def flask(self, *args: str) -> str:
        out = subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=self.env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def migrate(self) -> str:
        """Migrate as `make run` does, then import the shipped policies and make an admin
        key."""
        from app import store
        from app.service import policies

        out = self.flask("db", "migrate")
        db = store.connect(self.db_path)
        try:
            if not policies.count_versions(db):
                policies.import_files(db, ROOT / "rulesets", ROOT / "schemas")
        finally:
            db.close()
        self.key = self.create_key("admin", owner="ada.admin")
        return out

    def create_key(self, *roles: str, owner: str, name: str | None = None) -> str:
        from app import store
        from app.store import keys
        from app.store.audit import Actor

        name = name or f"live-test-{owner}-{'-'.join(roles)}-{os.urandom(3).hex()}"  # active names are unique

        db = store.connect(self.db_path)
        try:
            return keys.create_key(db, name=name, owner=owner, roles=roles, actor=Actor("test setup"))[1]
        finally:
            db.close()

    def start(self, wait: bool = True) -> "LiveServer":
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [*self.prefix, str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited {self.process.returncode}:\n{self.log()}")
            try:
                status, _, _ = self.request("GET", "/readyz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"gunicorn not ready after {timeout}s:\n{self.log()}")

    def request(self, method: str, path: str, body=None, headers: dict | None = None, key: str | None = "admin"):
        """One request, with the admin key unless ``key`` names another (None: no key)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = body if isinstance(body, bytes | None) else json.dumps(body).encode()
            hdrs = {"Content-Type": "application/json"} if data is not None else {}
            key = self.key if key == "admin" else key
            if key:
                hdrs["Authorization"] = f"Bearer {key}"
            hdrs.update(headers or {})
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def worker_pids(self) -> set[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(p) for p in children.read_text().split()}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> int | None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if hasattr(self, "_log"):
            self._log.close()
        return self.process.returncode if self.process else None


@pytest.fixture
def live_server(tmp_path):
    server = LiveServer(tmp_path)
    server.migrate()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_server(tmp_path):
    servers: list[LiveServer] = []

    def make(**kwargs) -> LiveServer:
        workdir = tmp_path / f"server{len(servers)}"
        workdir.mkdir()
        server = LiveServer(workdir, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def can_drop_dac_override() -> bool:
    return os.geteuid() != 0 or shutil.which("setpriv") is not None
