"""API keys: only a salted hash is kept, checked in constant time, revoked for good."""

import hmac
import sqlite3

import pytest

from app.store import audit, keys
from app.store.audit import Actor
from app.store.errors import InvalidRequest, KeyNameTaken, KeyNotFound

ADMIN = Actor("ada", "k-admin")


def test_a_key_is_shown_once_and_only_its_salted_hash_is_kept(log_db):
    key, token = keys.create_key(log_db, name="card-system", owner="card-platform", roles=["decide"], actor=ADMIN)
    prefix, key_id, secret = token.split("_", 2)
    assert prefix == "vgl" and key_id == key.key_id and len(secret) >= 40
    row = log_db.execute("SELECT * FROM api_keys WHERE key_id = ?", [key_id]).fetchone()
    assert secret not in repr(row)
    salt, hashed = log_db.execute("SELECT salt, hash FROM api_keys WHERE key_id = ?", [key_id]).fetchone()
    assert hashed.startswith("scrypt$") and len(bytes.fromhex(salt)) == 16
    other, other_token = keys.create_key(log_db, name="b", owner="card-platform", roles=["decide"], actor=ADMIN)
    assert log_db.execute("SELECT salt FROM api_keys WHERE key_id = ?", [other.key_id]).fetchone()[0] != salt
    assert keys.authenticate(log_db, token) == key
    assert keys.authenticate(log_db, other_token) == other


def test_wrong_and_malformed_keys_are_refused(log_db):
    _, token = keys.create_key(log_db, name="a", owner="o", roles=["audit"], actor=ADMIN)
    prefix, key_id, secret = token.split("_", 2)
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for bad in (f"vgl_{key_id}_{flipped}", f"vgl_000000000000_{secret}", "", "vgl_", token + " ", token.upper(),
                f"Bearer {token}", f"xyz_{key_id}_{secret}"):
        assert keys.authenticate(log_db, bad) is None, bad
    assert keys.authenticate(log_db, token) is not None
    # A key that passed once is remembered, but a wrong secret for it still fails.
    assert keys.authenticate(log_db, f"vgl_{key_id}_{flipped}") is None


def test_secrets_are_compared_in_constant_time(log_db, monkeypatch):
    _, token = keys.create_key(log_db, name="a", owner="o", roles=["audit"], actor=ADMIN)
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys.hmac, "compare_digest", spy)
    keys._verified.clear()
    assert keys.authenticate(log_db, token) is not None  # scrypt, then compare_digest
    assert keys.authenticate(log_db, token) is not None  # remembered: compare_digest of SHA-256
    assert len(calls) == 2


def test_revoked_key_is_refused_at_once(log_db):
    key, token = keys.create_key(log_db, name="a", owner="o", roles=["decide"], actor=ADMIN)
    assert keys.authenticate(log_db, token) is not None
    revoked = keys.revoke_key(log_db, key.key_id, actor=ADMIN)
    assert not revoked.active and revoked.revoked_by == "ada"
    assert keys.authenticate(log_db, token) is None
    assert keys.revoke_key(log_db, key.key_id, actor=ADMIN).revoked_at == revoked.revoked_at
    with pytest.raises(sqlite3.IntegrityError):
        log_db.execute("UPDATE api_keys SET revoked_at = NULL WHERE key_id = ?", [key.key_id])
    with pytest.raises(sqlite3.IntegrityError):
        log_db.execute("DELETE FROM api_keys")
    with pytest.raises(KeyNotFound):
        keys.revoke_key(log_db, "nope", actor=ADMIN)


def test_roles_name_and_owner_are_checked(log_db):
    for roles in ([], ["superuser"], None):
        with pytest.raises(InvalidRequest):
            keys.create_key(log_db, name="a", owner="o", roles=roles, actor=ADMIN)
    with pytest.raises(InvalidRequest):
        keys.create_key(log_db, name="a", owner="  ", roles=["decide"], actor=ADMIN)
    key, _ = keys.create_key(log_db, name="a", owner="o", roles=["decide", "audit", "decide"], actor=ADMIN)
    assert key.roles == ("decide", "audit")


def test_key_events_are_audited_without_secrets(log_db):
    key, token = keys.create_key(log_db, name="a", owner="o", roles=["author"], actor=ADMIN)
    keys.revoke_key(log_db, key.key_id, actor=Actor("eve", "k-eve"))
    events = audit.list_events(log_db, target=f"key:{key.key_id}").events
    assert [(e.action, e.actor) for e in events] == [("key.create", "ada"), ("key.revoke", "eve")]
    assert events[0].details == {"name": "a", "owner": "o", "roles": ["author"]}
    assert token.split("_", 2)[2] not in repr(events)


def test_list_keys(log_db):
    key, _ = keys.create_key(log_db, name="a", owner="o", roles=["author"], actor=ADMIN)
    keys.revoke_key(log_db, key.key_id, actor=ADMIN)
    assert key.key_id in {k.key_id for k in keys.list_keys(log_db)}
    assert key.key_id not in {k.key_id for k in keys.list_keys(log_db, include_revoked=False)}


def test_an_active_key_name_is_not_given_twice(log_db):
    first, _ = keys.create_key(log_db, name="first-admin", owner="ada", roles=["admin"], actor=ADMIN)
    before = len(keys.list_keys(log_db))
    for name in ("first-admin", "  first-admin "):
        with pytest.raises(KeyNameTaken) as refused:
            keys.create_key(log_db, name=name, owner="bob", roles=["admin"], actor=ADMIN)
        assert first.key_id in refused.value.message and "'first-admin'" in refused.value.message
        assert refused.value.details == [{"path": "name", "message": f"Taken by active key {first.key_id}."}]
    assert len(keys.list_keys(log_db)) == before
    assert len(audit.list_events(log_db, action="key.create").events) == before
    # Revoked, its name is free again.
    keys.revoke_key(log_db, first.key_id, actor=ADMIN)
    second, _ = keys.create_key(log_db, name="first-admin", owner="ada", roles=["admin"], actor=ADMIN)
    assert [k.key_id for k in keys.list_keys(log_db, include_revoked=False) if k.name == "first-admin"] == \
        [second.key_id]
