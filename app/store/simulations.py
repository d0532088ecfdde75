"""Impact simulations asked for over HTTP, one row each.

    queued --> running --> done
                  |------> failed (with the reason)

The worker that received the request runs the simulation in a background thread and
writes its progress here; every worker answers ``GET /v1/simulations/{id}`` from this
row, never from memory. Requesting one is an audit event. The row names the process
running it (app/store/runner.py): a queued or running simulation whose process ended
(a worker restarted or crashed) is marked failed when it is next read, saying so.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass

import sqlite_utils

from app.core import codec
from app.store import runner as runners
from app.store import times
from app.store.audit import Actor, record_event
from app.store.db import immediate
from app.store.errors import LogUnavailable, StoreError


class SimulationNotFound(StoreError):
    reason = "simulation_not_found"
    message = "No simulation has this id."


@dataclass(frozen=True)
class Simulation:
    id: str
    status: str
    requested_by: str
    key_id: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    params: dict
    progress_done: int
    progress_total: int | None
    report: dict | None
    error: str | None
    runner: str | None = None  # the process running it

    @property
    def target(self) -> str:
        return f"simulation:{self.id}"

    def summary(self) -> dict:
        """Everything but the report."""
        return {"id": self.id, "status": self.status, "requested_by": self.requested_by,
                "created_at": self.created_at, "started_at": self.started_at, "finished_at": self.finished_at,
                "params": self.params,
                "progress": {"done": self.progress_done, "total": self.progress_total},
                "error": self.error}


_COLUMNS = tuple(Simulation.__dataclass_fields__)


_dump = codec.dumps


def _row(row: tuple) -> Simulation:
    values = dict(zip(_COLUMNS, row))
    values["params"] = json.loads(values["params"])
    if values["report"] is not None:
        values["report"] = json.loads(values["report"])
    return Simulation(**values)


def create(db: sqlite_utils.Database, actor: Actor, params: dict, total: int | None = None) -> Simulation:
    """A queued simulation, with its audit event, in one transaction."""
    simulation = Simulation(id=uuid.uuid4().hex, status="queued", requested_by=actor.person, key_id=actor.key_id,
                            created_at=times.iso(times.now()), started_at=None, finished_at=None, params=params,
                            progress_done=0, progress_total=total, report=None, error=None,
                            runner=runners.this_process())
    row = {**simulation.__dict__, "params": _dump(params)}
    try:
        with immediate(db):
            db.execute(f"INSERT INTO simulations ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                       list(row.values()))
            record_event(db, actor, "simulation.request", simulation.target, params)
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    return simulation


def get(db: sqlite_utils.Database, simulation_id: str) -> Simulation:
    try:
        rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM simulations WHERE id = ?", [simulation_id]).fetchall()
    except sqlite3.Error as exc:
        raise LogUnavailable("The database is unavailable.") from exc
    if not rows:
        raise SimulationNotFound()
    simulation = _row(rows[0])
    if simulation.status in ("queued", "running") and not runners.alive(simulation.runner):
        _update(db, simulation_id, status="failed", finished_at=times.iso(times.now()), error=STOPPED,
                where="status IN ('queued', 'running')")
        return get(db, simulation_id)
    return simulation


STOPPED = ("The server process running this simulation ended (a restart or a crash) before it finished; "
           "nothing of it was kept. Start it again.")


def _update(db: sqlite_utils.Database, simulation_id: str, where: str = "1", **columns) -> None:
    try:
        with immediate(db):
            db.execute(f"UPDATE simulations SET {', '.join(f'{k} = ?' for k in columns)} WHERE id = ? AND {where}",
                       [*columns.values(), simulation_id])
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc


def start(db: sqlite_utils.Database, simulation_id: str, total: int | None) -> None:
    _update(db, simulation_id, status="running", started_at=times.iso(times.now()), progress_total=total)


def progress(db: sqlite_utils.Database, simulation_id: str, done: int) -> None:
    _update(db, simulation_id, progress_done=done)


def finish(db: sqlite_utils.Database, simulation_id: str, report: dict) -> None:
    done = int(report.get("snapshots", 0)) + int(report.get("error_count", 0))
    _update(db, simulation_id, status="done", finished_at=times.iso(times.now()), report=_dump(report),
            progress_done=done, progress_total=done)


def fail(db: sqlite_utils.Database, simulation_id: str, reason: str) -> None:
    _update(db, simulation_id, status="failed", finished_at=times.iso(times.now()), error=reason)
