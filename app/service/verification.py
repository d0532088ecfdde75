"""Verifying the log in the background, with progress a page can show.

``start`` records a verification and runs ``chain.verify`` (the decisions, then the
audit events) in a thread of this worker, on a connection of its own for reading (one
read transaction for the whole walk) and another for writing its progress, at most a
few times a second, and its result. The verification is an audit event, recorded with
what it found before anyone can read the result.
"""

from __future__ import annotations

import logging
import threading
import time

from app import store
from app.store import chain, verifications
from app.store.audit import Actor, record_event

log = logging.getLogger("vigil.verification")

PROGRESS_EVERY = 0.25  # seconds between progress writes


def start(db, config, actor: Actor, against: chain.Head | None, *,
          wait: float = 0.0) -> verifications.LogVerification:
    """Record a verification, start it, and wait up to ``wait`` seconds for it (a small
    log is verified by then, and its result shown at once). ``config`` holds the
    database's settings (VIGIL_DATABASE, VIGIL_SQLITE_SYNCHRONOUS, VIGIL_SQLITE_BUSY_TIMEOUT_MS)."""
    job = verifications.create(db, actor, against.to_dict() if against else None)
    thread = threading.Thread(target=run, args=(dict(config), job.id, against, actor),
                              name=f"verification-{job.id}", daemon=True)
    thread.start()
    thread.join(wait)
    return verifications.get(db, job.id)


def _connect(config):
    return store.connect(config["VIGIL_DATABASE"], synchronous=config.get("VIGIL_SQLITE_SYNCHRONOUS", "NORMAL"),
                         busy_timeout_ms=config.get("VIGIL_SQLITE_BUSY_TIMEOUT_MS", 5000))


def run(config, job_id: str, against: chain.Head | None, actor: Actor, every: float = PROGRESS_EVERY) -> None:
    """Verify and record how it went. Never raises."""
    reader = writer = None
    try:
        reader, writer = _connect(config), _connect(config)
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= every and done < total:
                last[0] = now
                verifications.progress(writer, job_id, done, total)

        report = chain.verify(reader, against, progress=progress)
        record_event(writer, actor, "decision.verify", "decisions", report.summary())
        done = report.checked + (report.audit.checked if report.audit else 0)
        verifications.finish(writer, job_id, report.to_dict(), done)
    except Exception as exc:  # noqa: BLE001 - a failed verification is a row marked failed
        log.error("verification failed", extra={"verification_id": job_id}, exc_info=exc)
        try:
            writer = writer or _connect(config)
            verifications.fail(writer, job_id, "The log could not be read to the end; see the service log.")
        except Exception as inner:  # noqa: BLE001
            log.error("verification not marked failed", extra={"verification_id": job_id}, exc_info=inner)
    finally:
        for connection in (reader, writer):
            if connection is not None:
                try:
                    connection.close()
                except Exception:  # noqa: BLE001
                    pass
