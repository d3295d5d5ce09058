"""Attacks on the audit log (security issue #12): someone with write access to the store.

Activity comes from a served Pledge over real HTTP (a few ``POST /v1/requests``). The
attacker then rewrites the store with plain SQL, as anyone holding its credentials could:
cuts the tail and sets the head back, deletes the head row, or edits an entry and
recomputes the whole chain (with the plain SHA-256 the chain once used, or with an HMAC
under a key guessed from the source). ``pledge audit verify`` runs as a separate process,
like an auditor would run it, against a checkpoint file kept outside the store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, select, text

from pledge.store import Store
from pledge.store.tables.core import audit_log
from tests.attacks.support import STORES, Target, served

PLEDGE = str(Path(sys.executable).parent / "pledge")


@pytest.fixture(params=STORES)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    with served(tmp_path, request.param, users=10) as t:
        yield t


def pledge(t: Target, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``pledge`` command in its own process, on the served deployment's store and keys."""
    env = {**os.environ, "PLEDGE_DATABASE_URL": t.store_url, "PLEDGE_SMTP_HOST": "127.0.0.1",
           "PLEDGE_SMTP_PORT": str(t.sink.port), "COLUMNS": "400"}
    return subprocess.run([PLEDGE, *args, "-c", str(t.cfg)], env=env, capture_output=True, text=True, timeout=120)


def activity(t: Target, requests: int = 2) -> int:
    """Make audit entries the way anyone on the internet can; returns the newest entry id."""
    with t.client() as client:
        for _ in range(requests):
            r = client.post("/v1/requests", json={"kind": "access", "email": f"a-{uuid.uuid4().hex[:8]}@example.org"})
            assert r.status_code == 201, r.text
    return int(t.store_rows("SELECT max(id) AS n FROM audit_log")[0]["n"])


def checkpoint(t: Target, path: Path) -> dict[str, Any]:
    out = pledge(t, "audit", "checkpoint", "-o", str(path), "--format", "json")
    assert out.returncode == 0, out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)["checkpoint"]
    return doc


def attack(t: Target, *statements: str, **params: Any) -> None:
    """Plain SQL on the store, in one transaction, behind Pledge's back."""
    eng = create_engine(t.store_url)
    try:
        with eng.begin() as conn:
            for sql in statements:
                conn.execute(text(sql), params)
    finally:
        eng.dispose()


def hash_of(t: Target, entry_id: int) -> str:
    return str(t.store_rows("SELECT hash FROM audit_log WHERE id = :id", id=entry_id)[0]["hash"])


def plain_sha256(body: bytes) -> str:
    """What the chain was before it was keyed: anyone can compute it."""
    return hashlib.sha256(body).hexdigest()


def guessed_hmac(body: bytes) -> str:
    """An HMAC under a key guessed from strings in the source (the HKDF salt, the genesis hash)."""
    return hmac.new(b"pledge" + b"0" * 64, body, hashlib.sha256).hexdigest()


def recompute(t: Target, digest: Callable[[bytes], str], forged_actor: str) -> None:
    """Edit entry 2 and rewrite every hash after it, then the head, as the old code hashed."""
    eng = create_engine(t.store_url)
    try:
        with eng.begin() as conn:
            rows = list(conn.execute(select(audit_log).order_by(audit_log.c.id)))
            prev = "0" * 64
            for row in rows:
                actor = forged_actor if row.id == 2 else row.actor
                at = row.at.replace(tzinfo=None).isoformat(timespec="microseconds")
                body = json.dumps([row.id, at, actor, row.action, row.target, row.details, prev],
                                  sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
                new = digest(body.encode("utf-8"))
                conn.execute(text("UPDATE audit_log SET actor = :actor, prev_hash = :prev, hash = :hash WHERE id = :id"),
                             {"actor": actor, "prev": prev, "hash": new, "id": row.id})
                prev = new
            conn.execute(text("UPDATE audit_head SET last_id = :n, hash = :h WHERE id = 1"), {"n": rows[-1].id, "h": prev})
    finally:
        eng.dispose()


# -- the honest case ------------------------------------------------------------------------------
def test_untouched_log_verifies_against_its_checkpoints(target: Target, tmp_path: Path) -> None:
    anchor = tmp_path / "offsite" / "checkpoints.jsonl"
    activity(target)
    first = checkpoint(target, anchor)
    activity(target)
    second = checkpoint(target, anchor)
    assert second["last_id"] > first["last_id"] > 0
    assert len(anchor.read_text().splitlines()) == 2  # appended, one line each
    out = pledge(target, "audit", "verify", "--checkpoint", str(anchor))
    assert out.returncode == 0, out.stderr
    assert "audit log intact (checked against 2 checkpoint(s)" in out.stdout
    activity(target)  # the served app keeps appending after a checkpoint
    assert pledge(target, "audit", "verify", "--checkpoint", str(anchor)).returncode == 0


# -- 1: cut the tail and set the head back to match ------------------------------------------------
def test_truncation_below_a_checkpoint_is_caught(target: Target, tmp_path: Path) -> None:
    anchor = tmp_path / "offsite" / "checkpoints.jsonl"
    activity(target)
    doc = checkpoint(target, anchor)
    anchored, anchored_at = doc["last_id"], doc["at"]
    activity(target)
    keep = anchored - 2
    attack(target, "DELETE FROM audit_log WHERE id > :keep",
           "UPDATE audit_head SET last_id = :keep, hash = :hash WHERE id = 1", keep=keep, hash=hash_of(target, keep))
    # the store alone is consistent again: only the checkpoint outside it remembers
    assert pledge(target, "audit", "verify").returncode == 0
    out = pledge(target, "audit", "verify", "--checkpoint", str(anchor))
    assert out.returncode == 1
    assert f"audit entry {anchored}: missing, but the checkpoint of {anchored_at}" in out.stderr
    assert "the log was cut below a checkpoint" in out.stderr
    assert f"first bad entry {anchored}" in out.stderr


# -- 2: delete the head row (with the tail, or with everything) -------------------------------------
@pytest.mark.parametrize("cut", ["tail", "everything"])
def test_deleted_head_is_caught(target: Target, tmp_path: Path, cut: str) -> None:
    anchor = tmp_path / "offsite" / "checkpoints.jsonl"
    activity(target)
    anchored = checkpoint(target, anchor)["last_id"]
    newest = activity(target)
    keep = anchored - 2 if cut == "tail" else 0
    attack(target, "DELETE FROM audit_head", "DELETE FROM audit_log WHERE id > :keep", keep=keep)
    alone = pledge(target, "audit", "verify")
    out = pledge(target, "audit", "verify", "--checkpoint", str(anchor))
    assert out.returncode == 1
    assert f"audit entry {anchored}: missing, but the checkpoint" in out.stderr
    if cut == "tail":  # the store shows a missing head by itself ...
        assert alone.returncode == 1
        assert f"audit entry {keep}: newest entry left, but the head row is missing (deleted)" in alone.stderr
        assert f"first bad entry {keep}" in out.stderr
    else:  # ... but an emptied log looks like a new one without the checkpoint
        assert alone.returncode == 0
        assert f"first bad entry {anchored}" in out.stderr
    assert newest > anchored
    # and no new checkpoint is signed over the damage
    again = pledge(target, "audit", "checkpoint", "-o", str(anchor))
    assert again.returncode == 1 and "no checkpoint written" in again.stderr


# -- 3: edit an entry and recompute the whole chain -------------------------------------------------
@pytest.mark.parametrize("how", ["plain-sha256", "guessed-key"])
def test_recomputed_chain_is_caught(target: Target, tmp_path: Path, how: str) -> None:
    anchor = tmp_path / "offsite" / "checkpoints.jsonl"
    activity(target)
    anchored = checkpoint(target, anchor)["last_id"]
    newest = activity(target)
    recompute(target, plain_sha256 if how == "plain-sha256" else guessed_hmac, forged_actor="nobody")
    alone = pledge(target, "audit", "verify", "--format", "json")
    assert alone.returncode == 1
    problems = json.loads(alone.stdout)["problems"]
    expected = ("not keyed: a plain SHA-256 hash" if how == "plain-sha256"
                else "content was edited, or hashed with a key this deployment does not have")
    # every recomputed entry is named, as one run from the first
    assert [(p["entry"], p["through"]) for p in problems] == [(1, newest)]
    assert expected in problems[0]["problem"]
    out = pledge(target, "audit", "verify", "--checkpoint", str(anchor))
    assert out.returncode == 1
    assert f"audit entries 1–{newest}: {expected}" in out.stderr
    assert f"audit entry {anchored}: differs from the checkpoint" in out.stderr
    assert "first bad entry 1" in out.stderr


# -- the checkpoint file itself ---------------------------------------------------------------------
@pytest.mark.parametrize("forgery", ["edited", "own-key"])
def test_forged_checkpoint_is_refused(tmp_path: Path, forgery: str) -> None:
    with served(tmp_path, "sqlite", users=10) as t:
        anchor = tmp_path / "checkpoints.jsonl"
        activity(t)
        doc = checkpoint(t, anchor)
        keep = doc["last_id"] - 2
        attack(t, "DELETE FROM audit_log WHERE id > :keep",
               "UPDATE audit_head SET last_id = :keep, hash = :hash WHERE id = 1", keep=keep, hash=hash_of(t, keep))
        forged = {**doc, "last_id": keep, "hash": hash_of(t, keep)}  # the file made to match the cut log
        if forgery == "own-key":
            key = Ed25519PrivateKey.generate()
            raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            forged["public_key"] = base64.b64encode(raw).decode()
            body = {k: v for k, v in forged.items() if k != "signature"}
            canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            forged["signature"] = base64.b64encode(key.sign(canonical)).decode()
        anchor.write_text(json.dumps(forged) + "\n")
        out = pledge(t, "audit", "verify", "--checkpoint", str(anchor))
        assert out.returncode == 1
        reason = ("the signature does not verify" if forgery == "edited"
                  else "signed by a key that is none of this deployment's audit keys")
        assert f"checkpoints.jsonl:1: {reason}" in out.stderr


def test_checkpoint_is_mailed_to_the_privacy_contact(tmp_path: Path) -> None:
    with served(tmp_path, "sqlite", users=10) as t:
        activity(t)
        out = pledge(t, "audit", "checkpoint", "--email")
        assert out.returncode == 0, out.stderr
        assert "email to hello@omni1.ai: sent" in out.stdout
        assert (t.cfg.parent / ".pledge" / "audit-checkpoints.jsonl").exists()  # the default file
        [body] = t.mails_to("hello@omni1.ai")
        line = next(s for s in body.splitlines() if s.startswith("{"))
        kept = tmp_path / "from-mail.jsonl"
        kept.write_text(line + "\n")
        assert pledge(t, "audit", "verify", "--checkpoint", str(kept)).returncode == 0
        # the same head is not mailed twice
        assert "already sent" in pledge(t, "audit", "checkpoint", "--email").stdout


# -- keys rotate -------------------------------------------------------------------------------------
def test_rotated_keys_still_verify_old_entries_and_checkpoints(tmp_path: Path) -> None:
    from pledge.audit import BAD_HASH, AuditLog

    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    clock = lambda: datetime(2026, 1, 1, tzinfo=UTC)  # noqa: E731
    old, new = "o" * 40, "n" * 40
    before = AuditLog(store, clock, keys=[old])
    before.record("test.event", target="a")
    cp = before.checkpoint("site")
    after = AuditLog(store, clock, keys=[new, old])  # rotated: the new key first, the old one still listed
    assert after.verify([("f:1", cp)], deployment="site") == []  # entry 1 and cp, under the old key
    after.record("test.event", target="b")  # written with the newest key all the same
    assert after.verify([("f:1", cp)], deployment="site") == []
    assert after.checkpoint_problem(after.checkpoint("site")) is None
    dropped = AuditLog(store, clock, keys=[new])  # the old key left the keyring
    assert dropped.head()[0] == 2
    problems = dropped.verify([("f:1", cp)], deployment="site")
    assert [(p.entry_id, p.problem) for p in problems] == [
        (1, BAD_HASH), (1, "checkpoint f:1: signed by a key that is none of this deployment's audit keys")]
    store.dispose()


def test_the_daily_sweep_writes_a_checkpoint(tmp_path: Path) -> None:
    from pledge.retention.scheduler import Scheduler

    with served(tmp_path, "sqlite", users=10) as t:
        default = t.cfg.parent / ".pledge" / "audit-checkpoints.jsonl"
        sched = Scheduler(t.engine, 3600)  # what `pledge serve` starts: the first sweep at once
        sched.start()
        deadline = time.monotonic() + 60
        while sched.runs < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        sched.close()
        [line] = default.read_text().splitlines()
        doc = json.loads(line)
        assert doc["deployment"] == "omni-one" and doc["last_id"] >= 1  # the sweep's own entries
        assert t.engine.audit.checkpoint_problem(doc, "omni-one") is None
        out = pledge(t, "audit", "verify")  # the default file is used when it exists
        assert out.returncode == 0 and "checked against 1 checkpoint(s)" in out.stdout
