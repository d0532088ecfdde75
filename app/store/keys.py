"""API keys: who may call the service, as whom, with which roles.

A key reads ``vgl_<key_id>_<secret>``. The key id is public (it is listed, logged and
audited); the secret is shown once, when the key is created, and only a salted scrypt
hash of it is kept. Checking a presented key compares hashes in constant time.

scrypt is slow on purpose, and a worker checks the same keys again and again, so a key
that passed once is remembered in the process as (key id, stored hash) -> SHA-256 of
the secret that passed; a later request with that key costs one SHA-256. Revocation is
read from the database on every request, so a revoked key stops working at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
from dataclasses import dataclass

import sqlite_utils

from app.core import codec
from app.store import times
from app.store.audit import Actor, record_event
from app.store.db import immediate
from app.store.errors import InvalidRequest, KeyNameTaken, KeyNotFound, LastAdminKey, LogUnavailable

# decide: loan and card systems asking for decisions. author: write ruleset drafts and
# submit them. approve: approve or reject submitted versions, publish, schedule, roll
# back, retire. audit: compliance reading the record, changing nothing. legal: place and
# release legal holds, see what a purge would remove. officer: staff who do follow-up
# (account managers, collections): their own tasks and those waiting in the queues their
# key works, nothing more. admin: everything, and keys.
ROLES = ("decide", "author", "approve", "audit", "legal", "officer", "admin")
ADMIN = "admin"
# Who may read the policies served (rulesets, contracts, versions): every role but officer.
POLICY_READERS = tuple(r for r in ROLES if r != "officer")

PREFIX = "vgl"
_TOKEN = re.compile(r"vgl_([0-9a-f]{12})_([A-Za-z0-9_-]{20,128})")
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}
_MAXMEM = 64 * 1024 * 1024
# Hashed with a secret sent for an unknown or revoked key id, so that refusing it costs
# what refusing a wrong secret for a real key costs.
_DUMMY_SALT = secrets.token_bytes(16)


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    owner: str
    roles: tuple[str, ...]
    created_by: str
    created_at: str
    revoked_by: str | None = None
    revoked_at: str | None = None
    queues: tuple[str, ...] = ()  # the follow-up queues an officer works

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def actor(self) -> Actor:
        return Actor(self.owner, self.key_id, self.created_by)

    def to_dict(self) -> dict:
        return {**self.__dict__, "roles": list(self.roles), "queues": list(self.queues), "active": self.active}


_COLUMNS = ("key_id", "name", "owner", "roles", "created_by", "created_at", "revoked_by", "revoked_at", "queues")
_SELECT = f"SELECT {', '.join(_COLUMNS)}, salt, hash FROM api_keys"

# (key_id, stored hash) -> (SHA-256 of the secret that matched it, the key as read then:
# its name, owner and roles never change, only whether it is revoked).
_verified: dict[tuple[str, str], tuple[bytes, "ApiKey"]] = {}
_VERIFIED_MAX = 4096


def _queues_of(stored: str | None) -> tuple[str, ...]:
    return tuple(json.loads(stored)) if stored else ()


def _stored_queues(queues: tuple[str, ...]) -> str | None:
    return codec.dumps(list(queues)) if queues else None


def _key(row: tuple) -> ApiKey:
    values = dict(zip(_COLUMNS, row[:len(_COLUMNS)]))
    values["roles"] = tuple(json.loads(values["roles"]))
    values["queues"] = _queues_of(values["queues"])
    return ApiKey(**values)


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> str:
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${n}${r}${p}${digest.hex()}"


def _matches(secret: str, salt_hex: str, stored: str) -> bool:
    try:
        scheme, n, r, p, _ = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = _scrypt(secret, bytes.fromhex(salt_hex), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(candidate.encode(), stored.encode())


def check_roles(roles) -> tuple[str, ...]:
    roles = tuple(dict.fromkeys(roles or ()))
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise InvalidRequest(
            f"Give one or more roles of {', '.join(ROLES)}" + (f"; unknown: {', '.join(unknown)}." if unknown else "."),
            [{"path": "roles", "message": f"Must be one or more of {', '.join(ROLES)}."}])
    return roles


MAX_QUEUES = 20
MAX_QUEUE_NAME = 200


def check_queues(queues, roles: tuple[str, ...]) -> tuple[str, ...]:
    """The follow-up queues a key works: for an officer's key only (approve and audit see
    every task anyway), each named once, at most MAX_QUEUES."""
    queues = tuple(dict.fromkeys(q.strip() for q in queues or () if q and q.strip()))
    if not queues:
        return ()
    problem = ("Queues are for a key with the officer role." if "officer" not in roles
               else f"At most {MAX_QUEUES} queues." if len(queues) > MAX_QUEUES
               else f"A queue's name is at most {MAX_QUEUE_NAME} characters."
               if any(len(q) > MAX_QUEUE_NAME for q in queues) else None)
    if problem:
        raise InvalidRequest(problem, [{"path": "queues", "message": problem}])
    return queues


def create_key(db: sqlite_utils.Database, *, name: str, owner: str, roles, actor: Actor,
               queues=()) -> tuple[ApiKey, str]:
    """Create a key; return it with the token to hand over (shown this once, never stored).
    A name is unique among active keys (KeyNameTaken); a revoked key's name is free.
    ``queues``: the follow-up queues an officer's key works."""
    roles = check_roles(roles)
    queues = check_queues(queues, roles)
    name, owner = name.strip(), owner.strip()
    if not name or not owner:
        raise InvalidRequest("A key needs a name and an owner (the person it acts as).",
                             [{"path": "owner" if name else "name", "message": "Must not be empty."}])
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    hashed = _scrypt(secret, salt, **_SCRYPT)
    try:
        with immediate(db):
            # Under the write lock, so two admins making the same name at once cannot both win.
            taken = db.execute("SELECT key_id FROM api_keys WHERE name = ? AND revoked_at IS NULL",
                               [name]).fetchone()
            if taken is not None:
                raise KeyNameTaken(
                    f"The active key {taken[0]} is already named {name!r}: choose another name, or revoke "
                    f"that key first.", [{"path": "name", "message": f"Taken by active key {taken[0]}."}])
            while True:
                key_id = secrets.token_hex(6)
                if db.execute("SELECT 1 FROM api_keys WHERE key_id = ?", [key_id]).fetchone() is None:
                    break
            key = ApiKey(key_id=key_id, name=name, owner=owner, roles=roles, created_by=actor.person,
                         created_at=times.iso(times.now()), queues=queues)
            db.execute(
                "INSERT INTO api_keys (key_id, name, owner, roles, salt, hash, created_by, created_at, queues) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [key.key_id, key.name, key.owner, codec.dumps(list(roles)), salt.hex(), hashed, key.created_by,
                 key.created_at, _stored_queues(queues)])
            details = {"name": name, "owner": owner, "roles": list(roles)}
            if queues:
                details["queues"] = list(queues)
            record_event(db, actor, "key.create", f"key:{key.key_id}", details)
    except sqlite3.Error as exc:
        raise LogUnavailable("The database is unavailable; no key was created.") from exc
    return key, f"{PREFIX}_{key.key_id}_{secret}"


def get_key(db: sqlite_utils.Database, key_id: str) -> ApiKey:
    try:
        row = db.execute(f"{_SELECT} WHERE key_id = ?", [key_id]).fetchone()
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    if row is None:
        raise KeyNotFound()
    return _key(row)


def list_keys(db: sqlite_utils.Database, *, include_revoked: bool = True) -> list[ApiKey]:
    sql = _SELECT + ("" if include_revoked else " WHERE revoked_at IS NULL") + " ORDER BY created_at, key_id"
    try:
        return [_key(r) for r in db.execute(sql).fetchall()]
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc


def revoke_key(db: sqlite_utils.Database, key_id: str, *, actor: Actor) -> ApiKey:
    """Revoke a key for good. Revoking a revoked key changes nothing and records nothing.
    The last active admin key is never revoked (LastAdminKey): checked under the write
    lock, so two admins revoking each other's keys at once cannot both succeed."""
    try:
        with immediate(db):
            key = get_key(db, key_id)
            if not key.active:
                return key
            if ADMIN in key.roles and not _other_active_admins(db, key_id):
                raise LastAdminKey()
            at = times.iso(times.now())
            db.execute("UPDATE api_keys SET revoked_by = ?, revoked_at = ? WHERE key_id = ?",
                       [actor.person, at, key_id])
            record_event(db, actor, "key.revoke", f"key:{key_id}",
                         {"name": key.name, "owner": key.owner, "roles": list(key.roles)})
    except sqlite3.Error as exc:
        raise LogUnavailable("The database is unavailable; the key was not revoked.") from exc
    return ApiKey(**{**key.__dict__, "revoked_by": actor.person, "revoked_at": at})


def set_queues(db: sqlite_utils.Database, key_id: str, queues, *, actor: Actor) -> ApiKey:
    """Change the follow-up queues an active officer key works (staff move between
    branches); from the next request on, on every worker. An audit event with the queues
    before and after; setting the same queues changes nothing and records nothing."""
    try:
        with immediate(db):
            key = get_key(db, key_id)
            if not key.active:
                raise InvalidRequest(f"The key {key_id} is revoked; its queues no longer matter.",
                                     [{"path": "key_id", "message": "Revoked."}])
            queues = check_queues(queues, key.roles)
            if queues == key.queues:
                return key
            db.execute("UPDATE api_keys SET queues = ? WHERE key_id = ?",
                       [_stored_queues(queues), key_id])
            record_event(db, actor, "key.queues", f"key:{key_id}",
                         {"name": key.name, "owner": key.owner, "from": list(key.queues), "to": list(queues)})
    except sqlite3.Error as exc:
        raise LogUnavailable("The database is unavailable; the key's queues were not changed.") from exc
    return ApiKey(**{**key.__dict__, "queues": queues})


def _other_active_admins(db: sqlite_utils.Database, key_id: str) -> int:
    return sum(1 for key in list_keys(db, include_revoked=False) if ADMIN in key.roles and key.key_id != key_id)


def authenticate(db: sqlite_utils.Database, token: str, *, may_hash: bool = True) -> ApiKey | None:
    """The active key this token belongs to, or None. Raises LogUnavailable when the
    database cannot be read.

    A wrong secret costs one scrypt hash whether the key id is real, revoked or unknown,
    so timing tells nothing about which ids exist. Only a secret that already passed in
    this process is cheaper to check (one SHA-256). With ``may_hash`` false (a client
    that failed too often), nothing but that cheap check is done."""
    match = _TOKEN.fullmatch(token or "")
    if not match:
        return None
    key_id, secret = match.groups()
    fingerprint = hashlib.sha256(secret.encode()).digest()
    try:
        # The common case, a key already checked in this process: only whether it is
        # still active (and still the same key) is read.
        state = db.execute("SELECT revoked_at, hash, queues FROM api_keys WHERE key_id = ?", [key_id]).fetchone()
        if state is not None and state[0] is None:
            remembered = _verified.get((key_id, state[1]))
            if remembered is not None and hmac.compare_digest(remembered[0], fingerprint):
                key = remembered[1]
                if _queues_of(state[2]) != key.queues:  # changed since (set_queues)
                    key = ApiKey(**{**key.__dict__, "queues": _queues_of(state[2])})
                    _verified[(key_id, state[1])] = (fingerprint, key)
                return key
        row = db.execute(f"{_SELECT} WHERE key_id = ?", [key_id]).fetchone()
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    key = _key(row) if row is not None else None
    if not may_hash:
        return None
    if key is None or not key.active:
        _scrypt(secret, _DUMMY_SALT, **_SCRYPT)  # the work a real key's check costs
        return None
    salt_hex, stored = row[-2], row[-1]
    if not _matches(secret, salt_hex, stored):
        return None
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[(key_id, stored)] = (fingerprint, key)
    return key
