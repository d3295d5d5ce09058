"""Fewer round trips, same guarantees: a run's export row and audit entry commit with the move
to ``completed`` (or not at all), and pooled connections are pinged only after sitting idle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

import pledge.store as store_mod
from pledge.devmail import DevMail
from pledge.engine import Engine
from pledge.rights.requests import RequestService
from pledge.store import make_sa_engine
from pledge.store.tables.requests import request_exports
from tests.requests_support import START, crash_before_completing, deployment, some_users


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deployment(tmp_path_factory.mktemp("omni"), "omni-one", users=20)


def _exports(engine: Engine, row_id: int) -> int:
    with engine.store.connect() as conn:
        return len(conn.execute(select(request_exports.c.id).where(request_exports.c.request_id == row_id)).all())


def _actions(engine: Engine) -> list[str]:
    return [e["action"] for e in reversed(engine.audit.entries())]


def test_failed_completion_leaves_no_export_row_nor_access_entry(engine: Engine, cfg: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    user = some_users(cfg, 1)[0]
    svc = engine.requests
    rid = svc.open_on_initiative("access", {"email": user["email"]}, ground="legal_order", actor="officer:1").id
    real_move = crash_before_completing(monkeypatch)
    with pytest.raises(RuntimeError):
        svc.run(rid, actor="officer:1")
    view = svc.get(rid)
    assert view.state == "executing"
    assert _exports(engine, view.row_id) == 0  # the export row rolled back with the failed completion
    assert "rights.access" not in _actions(engine)
    assert engine.audit.verify() == []

    monkeypatch.setattr(RequestService, "_audit_move", real_move)
    done = svc.run(rid, actor="officer:1")  # a re-run finishes it, once
    assert done.state == "completed" and done.result["export"]
    assert done.as_dict() == svc.get(rid).as_dict()  # the view handed back is the row as stored
    assert _exports(engine, done.row_id) == 1
    actions = _actions(engine)
    assert actions.count("rights.access") == 1
    assert actions[-2:] == ["rights.access", "request.completed"]
    assert engine.audit.verify() == []
    name, data = svc.delivery.open_signed(rid, svc.delivery.sign(rid, done.result["export"]))
    assert name == f"access-{rid}.zip" and data[:2] == b"PK"


def test_transition_returns_what_was_written(engine: Engine, cfg: Path) -> None:
    user = some_users(cfg, 2)[1]
    svc = engine.requests
    rid = svc.create("access", {"email": user["email"]}, notify=False).id
    moved = svc.transition(rid, "denied", actor="admin:1", denial_ground="manifestly_unfounded", denial_note="n")
    read = svc.get(rid)
    assert moved.as_dict() == read.as_dict()
    assert read.state == "denied" and read.closed_at is not None and read.denial_ground == "manifestly_unfounded"


def _backend_id(conn: Any, postgres: bool) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()" if postgres else "SELECT CONNECTION_ID()")).scalar())


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_pool_pings_a_connection_only_after_it_sat_idle(backend: str, request: pytest.FixtureRequest,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    url = request.getfixturevalue("postgres_url" if backend == "postgresql" else "mariadb_url")
    postgres = backend == "postgresql"
    eng = make_sa_engine(url)
    killer = make_sa_engine(url)
    try:
        def kill(pid: int) -> None:
            sql = f"SELECT pg_terminate_backend({pid})" if postgres else f"KILL {pid}"
            with killer.connect() as k:
                k.execute(text(sql))

        with eng.connect() as conn:
            first = _backend_id(conn, postgres)
        kill(first)
        # used a moment ago: not pinged, so the dead connection shows (one failed use, then it is replaced)
        with pytest.raises(Exception), eng.connect() as conn:  # noqa: B017, PT011
            _backend_id(conn, postgres)
        with eng.connect() as conn:
            second = _backend_id(conn, postgres)
        assert second != first
        # idle long enough: the checkout pings, finds it dead and hands out a fresh one
        monkeypatch.setattr(store_mod, "PING_AFTER_IDLE_S", 0.0)
        kill(second)
        with eng.connect() as conn:
            third = _backend_id(conn, postgres)
        assert third not in (first, second)
    finally:
        eng.dispose()
        killer.dispose()


def _fail_after_queueing(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make ``Notifier.queue`` write its row and then fail, before the caller commits; returns
    the real method, to put back."""
    from pledge.notify import Notifier

    real_queue = Notifier.queue

    def queue_then_fail(self: Notifier, conn: Any, mail: Any) -> Any:
        real_queue(self, conn, mail)
        raise RuntimeError("crash after the email was queued, before the commit")

    monkeypatch.setattr(Notifier, "queue", queue_then_fail)
    return real_queue


def test_the_completion_email_is_queued_in_the_completions_transaction(engine: Engine, cfg: Path, sink: DevMail,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The requester's "completed" email is written to the outbox in the same transaction as
    the move to ``completed``: a completion that fails after queueing it leaves no mail row
    and sends nothing; the re-run sends it exactly once, after its commit."""
    from pledge.notify import Notifier
    from pledge.store.tables.outbox import outbox

    user = some_users(cfg, 1)[0]
    svc = engine.requests
    rid = svc.open_on_initiative("access", {"email": user["email"]}, ground="legal_order", actor="officer:1").id
    reference = f"request:{rid}:completed"

    def mail_rows() -> list[str]:
        with engine.store.connect() as conn:
            return [str(r[0]) for r in conn.execute(select(outbox.c.status).where(outbox.c.reference == reference))]

    def completed_mails() -> int:
        return sum(1 for m in sink.messages() if user["email"] in m.recipients and rid in m.body)

    real_queue = _fail_after_queueing(monkeypatch)
    with pytest.raises(RuntimeError):
        svc.run(rid, actor="officer:1")
    assert svc.get(rid).state == "executing"
    assert mail_rows() == []  # rolled back with the completion
    engine.outbox.flush()
    assert completed_mails() == 0

    monkeypatch.setattr(Notifier, "queue", real_queue)
    done = svc.run(rid, actor="officer:1")
    assert done.state == "completed"
    engine.outbox.flush()
    assert mail_rows() == ["sent"]
    assert completed_mails() == 1


def test_platform_token_verification_is_one_transaction(engine: Engine, cfg: Path, sink: DevMail,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A platform token verifies a request in one transaction: the move to ``verifying``, the
    proof, the move to ``verified`` and their audit entries, and the "verified" email. A failure
    after the email is queued leaves the request as it was, with no entry and no mail; a token
    for another account is refused and its ``request.token_mismatch`` entry is kept."""
    from pledge.notify import Notifier
    from pledge.rights.verify import VerificationError, make_platform_token
    from pledge.store.tables.outbox import outbox

    ann, bob = (u["email"] for u in some_users(cfg, 3)[1:3])
    svc = engine.requests
    rid = svc.create("access", {"email": ann}, notify=False).id
    secret = svc.verifier.platform_secret()
    reference = f"request:{rid}:verified"

    def mail_rows() -> int:
        with engine.store.connect() as conn:
            return len(conn.execute(select(outbox.c.id).where(outbox.c.reference == reference)).all())

    def entries() -> list[str]:
        return [a for a in _actions(engine) if a.startswith(("request.verif", "request.proof", "request.token"))]

    before = entries()
    with pytest.raises(VerificationError):
        svc.verify_token(rid, make_platform_token(secret, bob, now=START))
    assert svc.get(rid).state == "received"
    assert entries() == [*before, "request.token_mismatch"]  # committed although the call failed

    real_queue = _fail_after_queueing(monkeypatch)
    with pytest.raises(RuntimeError):
        svc.verify_token(rid, make_platform_token(secret, ann, now=START))
    assert svc.get(rid).state == "received" and svc.get(rid).verified_at is None
    assert entries() == [*before, "request.token_mismatch"] and mail_rows() == 0

    monkeypatch.setattr(Notifier, "queue", real_queue)
    view = svc.verify_token(rid, make_platform_token(secret, ann, now=START))
    assert view.state == "verified" and view.assurance == "reasonably_high"
    assert view.as_dict() == svc.get(rid).as_dict()
    assert entries() == [*before, "request.token_mismatch", "request.verifying", "request.proof", "request.verified"]
    assert engine.audit.verify() == []
    engine.outbox.flush()
    assert mail_rows() == 1
    assert sum(1 for m in sink.messages() if ann in m.recipients and rid in m.body) == 1
