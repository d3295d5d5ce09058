"""#19: an in-process request runs its phases in few transactions, with the same outcome.

An erasure run here (no workers) changes the platform in one transaction per database, not one
per step; its completion writes the done marker, the ledger's "done" and both audit entries in
the request's completing transaction, the entries chained and inserted together. An access run
reads whole rows in one pass. The chain still verifies, and a re-run after a failed completion
ends where an uninterrupted run does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text

from pledge.devmail import DevMail
from pledge.engine import Engine
from pledge.rights.requests import RequestService
from pledge.store.tables.core import erasure_ledger
from pledge.tasks import InlineJobs
from tests.requests_support import START, Clock, crash_before_completing, deployment, make_engine, some_users


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deployment(tmp_path_factory.mktemp("omni"), "omni-one", users=20, files=False)


@pytest.fixture
def engine(cfg: Path, sink: DevMail, tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(cfg, Clock(START), sink.port, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    assert isinstance(eng.jobs, InlineJobs)
    yield eng
    eng.close()


def _watch(eng: Any, log: list[str]) -> None:
    event.listen(eng, "commit", lambda *_: log.append("COMMIT"))
    event.listen(eng, "before_cursor_execute",
                 lambda _c, _cur, stmt, *_: log.append(" ".join(str(stmt).split()[:3]).upper()))


def test_erasure_writes_the_platform_in_one_transaction_and_completes_in_one(engine: Engine, cfg: Path) -> None:
    user = some_users(cfg, 1)[0]
    svc = engine.requests
    rid = svc.open_on_initiative("erasure", {"email": user["email"]}, ground="legal_order", actor="officer:1").id
    platform: list[str] = []
    store: list[str] = []
    _watch(engine.platform_engine("main"), platform)
    _watch(engine.store.engine, store)
    before = len(engine.audit.entries())
    done = svc.approve(rid, actor="officer:2")
    assert done.state in ("completed", "partially_completed")
    writes = [i for i, s in enumerate(platform) if s.startswith(("UPDATE", "DELETE"))]
    assert writes, platform
    assert "COMMIT" not in platform[writes[0]:writes[-1]]  # every step, one transaction
    added = len(engine.audit.entries()) - before  # executing, intent, erase.done, completed
    assert added == 4
    assert [e["action"] for e in engine.audit.entries(limit=2)] == [f"request.{done.state}", "rights.erase.done"]
    # four entries, three INSERTs: erase.done and the completion were chained and inserted together
    assert store.count("INSERT INTO AUDIT_LOG") == 3
    assert engine.audit.verify() == []
    with engine.store.connect() as conn:
        status = conn.execute(select(erasure_ledger.c.status).order_by(erasure_ledger.c.id.desc())).scalar()
    assert status == "done"


def test_a_failed_erasure_completion_is_resumed_to_the_same_end(engine: Engine, cfg: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    user = some_users(cfg, 2)[1]
    svc = engine.requests
    rid = svc.open_on_initiative("erasure", {"email": user["email"]}, ground="legal_order", actor="officer:1").id
    real_move = crash_before_completing(monkeypatch)
    with pytest.raises(RuntimeError):
        svc.approve(rid, actor="officer:2")
    assert svc.get(rid).state == "executing"
    actions = [e["action"] for e in engine.audit.entries()]
    assert "rights.erase.done" not in actions  # rolled back with the completion
    with engine.store.connect() as conn:
        assert conn.execute(select(erasure_ledger.c.status)).scalars().all() == ["intent"]
    monkeypatch.setattr(RequestService, "_audit_move", real_move)
    done = svc.run(rid, actor="officer:1")  # resumes the saved work list: every step again, idempotent
    assert done.state in ("completed", "partially_completed")
    summary = done.result["summary"]
    assert summary["deleted"] + summary["masked"] > 0  # the resumed report counts the rows it erased
    actions = [e["action"] for e in reversed(engine.audit.entries())]
    assert actions.count("rights.erase.done") == 1 and actions.count("rights.erase.resume") == 1
    with engine.store.connect() as conn:
        assert conn.execute(select(erasure_ledger.c.status)).scalars().all() == ["done"]
    assert engine.audit.verify() == []
    assert svc.get(rid).state == done.state


def test_an_approved_request_run_here_reads_its_row_once(engine: Engine, cfg: Path) -> None:
    """#19: the approval reads the row and hands the row it writes to the run; the run and its
    completion read it no more (the moves' UPDATEs are guarded by the state read instead)."""
    user = some_users(cfg, 1)[0]
    svc = engine.requests
    rid = svc.open_on_initiative("access", {"email": user["email"]}, ground="legal_order", actor="officer:1").id
    reads: list[str] = []
    event.listen(engine.store.engine, "before_cursor_execute",
                 lambda _c, _cur, stmt, *_: reads.append(stmt) if " ".join(stmt.split()).startswith(
                     "SELECT requests.id,") else None)
    done = svc.approve(rid, actor="officer:2")
    assert done.state == "completed"
    assert len(reads) == 1, reads
    assert done.as_dict() == svc.get(rid).as_dict()  # what the run handed back is what is stored
    assert engine.audit.verify() == []


def test_a_completion_after_another_run_moved_the_request_on_writes_nothing(engine: Engine, cfg: Path) -> None:
    """The run started from ``executing``; another run failed the request meanwhile: this
    completion's guarded move fails and takes its export row and audit entries with it."""
    from pledge.rights.requests import RequestStateError
    from pledge.store.tables.requests import request_exports

    user = some_users(cfg, 1)[0]
    svc = engine.requests
    rid = svc.open_on_initiative("access", {"email": user["email"]}, ground="legal_order", actor="officer:1").id
    svc.approve(rid, actor="officer:2", run=False)
    started = svc.load_row(rid)
    assert started[0].state == "executing"
    svc._failed(rid, RuntimeError("the other run"), actor="worker:2")  # noqa: SLF001 - the other run
    before = [e["action"] for e in engine.audit.entries()]
    with pytest.raises(RequestStateError):
        svc.carry_out(rid, actor="worker:1", loaded=started)
    assert svc.get(rid).state == "failed"
    assert [e["action"] for e in engine.audit.entries()] == before  # no rights.access, no request.completed
    with engine.store.connect() as conn:
        assert conn.execute(select(request_exports.c.id).where(
            request_exports.c.request_id == svc.get(rid).row_id)).all() == []
    assert engine.audit.verify() == []


def _approved_watching_the_store(eng: Engine, cfg: Path, kind: str, user: int) -> tuple[Any, list[str]]:
    """A request opened on initiative for the ``user``-th person, approved and carried out
    here; with every statement the store was sent meanwhile (whitespace collapsed)."""
    person = some_users(cfg, user + 1)[user]
    rid = eng.requests.open_on_initiative(kind, {"email": person["email"]}, ground="legal_order",
                                          actor="officer:1").id
    statements: list[str] = []
    event.listen(eng.store.engine, "before_cursor_execute",
                 lambda _c, _cur, stmt, *_: statements.append(" ".join(stmt.split())))
    return eng.requests.approve(rid, actor="officer:2"), statements


def test_on_postgresql_a_move_locks_the_audit_head_in_its_own_update(cfg: Path, sink: DevMail,
                                                                      postgres_url: str) -> None:
    """#19: a move locks the request, then the audit head, in one round trip (the move's UPDATE
    returns the head); no separate read of the head. An access request's approval and
    completion are one transaction and one UPDATE, which takes the head. The chain verifies."""
    eng = make_engine(cfg, Clock(START), sink.port, database_url=postgres_url)
    try:
        done, statements = _approved_watching_the_store(eng, cfg, "access", 0)
        assert done.state == "completed"
        assert not [s for s in statements if s.startswith("SELECT audit_head")], statements
        moves = [s for s in statements if s.startswith("UPDATE requests SET state")]
        assert len(moves) == 1, moves
        assert "FROM audit_head" in moves[0] and "FOR UPDATE" in moves[0], moves
        assert [e["action"] for e in eng.audit.entries(limit=3)] == ["request.completed", "rights.access",
                                                                       "request.executing"]
        assert eng.audit.verify() == []
    finally:
        eng.close()


def test_on_postgresql_an_erasure_reads_its_platform_outside_transactions(cfg: Path, sink: DevMail, tmp_path: Path,
                                                                        postgres_url: str) -> None:
    """#19: the traversal and the erasure plan only read the platform: no transaction of
    their own on PostgreSQL (and no server-side cursor, which needs one); the platform sees
    one transaction, the one that erases."""
    from pledge.platforms import create_platform

    create_platform("omni-one", postgres_url, users=20, progress=False)
    eng = make_engine(cfg, Clock(START), sink.port, database_url=f"sqlite:///{tmp_path / 'store.db'}",
                      platform_url=postgres_url)
    try:
        platform = eng.platform_engine("main")
        assert platform.dialect.name == "postgresql"
        with platform.connect() as conn:
            first, email = conn.execute(text("SELECT email FROM users ORDER BY id LIMIT 2")).scalars().all()
        rids = [eng.requests.open_on_initiative("erasure", {"email": e}, ground="legal_order", actor="officer:1").id
                for e in (first, email)]
        eng.requests.approve(rids[0], actor="officer:2")  # the first also reflects the tables (once per process)
        rid = rids[1]
        log: list[str] = []
        _watch(platform, log)
        done = eng.requests.approve(rid, actor="officer:2")
        assert done.state in ("completed", "partially_completed")
        assert log.count("COMMIT") == 1, "\n".join(log)
        first_write = next(i for i, s in enumerate(log) if s.startswith(("UPDATE", "DELETE")))
        assert "COMMIT" not in log[:first_write]
        with platform.connect() as conn:  # the person is gone from the platform
            assert conn.execute(text("SELECT count(*) FROM users WHERE email = :e"), {"e": email}).scalar() == 0
    finally:
        eng.close()


def test_a_task_payload_that_claims_a_row_is_not_believed(engine: Engine, cfg: Path) -> None:
    """Only a row object this process wrote is taken as the request's row; a payload from a
    broker (JSON) that names one under ``local`` is ignored and the row is read: a forged
    "already completed" does not stop the run, a forged "executing" does not start one."""
    from pledge.rights.request_run import request_task
    from pledge.tasks import LOCAL

    user = some_users(cfg, 2)
    svc = engine.requests
    rid = svc.open_on_initiative("access", {"email": user[0]["email"]}, ground="legal_order", actor="officer:1").id
    svc.approve(rid, actor="officer:2", run=False)
    forged = {"public_id": rid, "state": "completed", "payload_enc": "x"}
    ran = request_task(engine, {"request_id": rid, "actor": "worker", LOCAL: forged})
    assert ran["ran"] is True and svc.get(rid).state == "completed"

    other = svc.open_on_initiative("access", {"email": user[1]["email"]}, ground="legal_order", actor="officer:1").id
    ran = request_task(engine, {"request_id": other, "actor": "worker", LOCAL: {**forged, "public_id": other,
                                                                                   "state": "executing"}})
    assert ran["ran"] is False and svc.get(other).state != "completed"


def _request_statements(engine: Engine) -> list[str]:
    """Statements on the requests table, as sent (first words, upper case)."""
    seen: list[str] = []
    event.listen(engine.store.engine, "before_cursor_execute",
                 lambda _c, _cur, stmt, *_: seen.append(" ".join(stmt.split())[:40].upper())
                 if " requests" in stmt.lower().split("where")[0] else None)
    return seen


def test_a_platform_token_proof_rides_on_the_move_to_verified(engine: Engine, cfg: Path) -> None:
    """#19: with nothing left to prove, the proof (assurance, needs) is written by the move to
    ``verified`` itself: the row is updated once per move, and the proof's audit entry still
    comes before the move's."""
    from pledge.rights.verify import make_platform_token

    user = some_users(cfg, 3)[2]
    svc = engine.requests
    rid = svc.create("access", {"email": user["email"]}, notify=False).id
    seen = _request_statements(engine)
    view = svc.verify_token(rid, make_platform_token(svc.verifier.platform_secret(), user["email"], now=START))
    assert view.state == "verified" and view.assurance == "reasonably_high" and view.needs == []
    updates = [s for s in seen if s.startswith("UPDATE REQUESTS")]
    assert len(updates) == 2, seen  # to verifying, to verified (with the proof): no UPDATE of its own
    assert view.as_dict() == svc.get(rid).as_dict()
    actions = [e["action"] for e in engine.audit.entries(limit=3)][::-1]
    assert actions == ["request.verifying", "request.proof", "request.verified"]
    assert engine.audit.verify() == []


def test_a_run_reads_the_row_once_and_hands_it_to_the_task(engine: Engine, cfg: Path) -> None:
    """#19: ``run`` checks and moves the row in one locked read, and the in-process task
    starts from the row it wrote (no read before, none after)."""
    from pledge.rights.verify import make_platform_token

    user = some_users(cfg, 4)[3]
    svc = engine.requests
    rid = svc.create("access", {"email": user["email"]}, notify=False).id
    svc.verify_token(rid, make_platform_token(svc.verifier.platform_secret(), user["email"], now=START))
    assert svc.get(rid).state == "verified" and not svc.get(rid).approval_needed
    seen = _request_statements(engine)
    done = svc.run(rid, actor="officer:2")
    assert done.state == "completed"
    reads = [s for s in seen if s.startswith("SELECT REQUESTS.ID,")]
    assert len(reads) == 1, seen
    assert done.as_dict() == svc.get(rid).as_dict()
    assert engine.audit.verify() == []


def test_a_request_sent_to_the_workers_is_answered_as_sent(engine: Engine, cfg: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """On workers (``submit`` returns None) the answer is the row as this call wrote it,
    ``executing``, not a second read of it."""
    user = some_users(cfg, 5)[4]
    svc = engine.requests
    rid = svc.open_on_initiative("access", {"email": user["email"]}, ground="legal_order", actor="officer:1").id
    sent: list[dict[str, Any]] = []

    class Workers:  # a runner that sends its tasks away (as CeleryJobs does)
        distributed = True

        def submit(self, name: str, payload: dict[str, Any], **kw: Any) -> None:
            sent.append(payload)

    monkeypatch.setattr(engine, "_jobs", Workers())
    seen = _request_statements(engine)
    view = svc.approve(rid, actor="officer:2")
    reads = [s for s in seen if s.startswith("SELECT REQUESTS.ID,")]
    assert len(reads) == 1, seen  # the approval's read, and no read back
    assert [p["request_id"] for p in sent] == [rid]
    assert view.state == "executing" and view.as_dict() == svc.get(rid).as_dict()


def test_an_erasure_checkpoint_clears_only_its_own_rows(engine: Engine) -> None:
    """A checkpoint's keys are matched as a literal prefix: ``_`` in a request id (public ids
    hold it) is not LIKE's any-character, so another request's work list is left alone."""
    from sqlalchemy import insert

    from pledge.rights.erasure import _Checkpoint
    from pledge.store.tables.core import checkpoints

    now = engine.now()
    mine, other = "request-req_a", "request-reqXa"
    with engine.store.begin() as conn:
        conn.execute(insert(checkpoints), [{"key": f"erasure:{rid}:step:0000", "value": "{}", "updated_at": now}
                                           for rid in (mine, other)])
    cp = _Checkpoint(engine, mine)  # never read: saving a new work list clears what was there first
    with engine.store.begin() as conn:
        cp.save_new({"actor": "test", "status": "running"}, [], {}, conn=conn)
    with engine.store.connect() as conn:
        keys = {str(k) for k in conn.execute(select(checkpoints.c.key)).scalars()}
    assert f"erasure:{other}:step:0000" in keys  # the other request's work list is still there
    assert f"erasure:{mine}:step:0000" not in keys and f"erasure:{mine}:meta" in keys
    assert set(cp.read()) == {f"erasure:{mine}:meta"}


def test_on_postgresql_an_erasure_intent_brings_the_head_and_its_end_is_one_statement(
        cfg: Path, sink: DevMail, postgres_url: str) -> None:
    """#19: on PostgreSQL no audit head is read on its own during an erasure: the intent's
    ledger INSERT returns it, as the request's moves do; and the run's end (its steps
    cleared, the ledger entry done, the done marker) is one statement. What is stored is
    what the separate statements wrote: the entry done, only the marker left, the chain whole."""
    from pledge.store.tables.core import checkpoints

    eng = make_engine(cfg, Clock(START), sink.port, database_url=postgres_url)
    try:
        done, statements = _approved_watching_the_store(eng, cfg, "erasure", 5)
        rid = done.id
        assert done.state in ("completed", "partially_completed")
        assert not [s for s in statements if s.startswith("SELECT audit_head")], statements
        intent = [s for s in statements if s.startswith("INSERT INTO erasure_ledger")]
        assert len(intent) == 1 and "FROM audit_head" in intent[0] and "FOR UPDATE" in intent[0], intent
        ends = [s for s in statements if "erasure_ledger SET status" in s or s.startswith("DELETE FROM checkpoints")]
        assert len(ends) == 1 and ends[0].startswith("WITH steps_cleared AS (DELETE FROM checkpoints"), ends
        with eng.store.connect() as conn:
            status = conn.execute(select(erasure_ledger.c.status, erasure_ledger.c.done_at)
                                  .order_by(erasure_ledger.c.id.desc())).first()
            keys = conn.execute(select(checkpoints.c.key, checkpoints.c.value).where(
                checkpoints.c.key.startswith(f"erasure:request-{rid}:", autoescape=True))).all()
        assert status is not None and status.status == "done" and status.done_at is not None
        assert [k for k, _ in keys] == [f"erasure:request-{rid}:meta"] and '"status": "done"' in keys[0][1]
        assert [e["action"] for e in eng.audit.entries(limit=2)] == [f"request.{done.state}", "rights.erase.done"]
        assert eng.audit.verify() == []
    finally:
        eng.close()


def test_an_access_request_approved_here_is_approved_and_completed_in_one_transaction(engine: Engine,
                                                                                     cfg: Path) -> None:
    """#19: an access run writes nothing until it completes, so its approval is written in the
    transaction that completes it: one commit in the store, the approval's entry, the access
    entry and the completion's chained in that order, and the row as a read finds it."""
    user = some_users(cfg, 1)[0]
    svc = engine.requests
    rid = svc.open_on_initiative("access", {"email": user["email"]}, ground="legal_order", actor="officer:1").id
    store = _seen_here(engine, "before_cursor_execute", "commit")
    done = svc.approve(rid, actor="officer:2")
    assert done.state == "completed"
    first = store.index("UPDATE REQUESTS SET")
    end = store.index("COMMIT", first)
    # both moves (one UPDATE: the row goes from verified to completed), the export row and the
    # entries in one transaction; no write to the request after it
    assert store[first:end].count("UPDATE REQUESTS SET") == 1, store
    assert {"INSERT INTO REQUEST_EXPORTS", "INSERT INTO AUDIT_LOG"} <= set(store[first:end]), store
    assert "UPDATE REQUESTS SET" not in store[end:] and "INSERT INTO AUDIT_LOG" not in store[end:], store
    entries = engine.audit.entries(limit=3)
    assert [e["action"] for e in entries] == ["request.completed", "rights.access", "request.executing"]
    assert entries[2]["actor"] == "officer:2" and entries[2]["details"] == {"from": "verified",
                                                                            "approved": True}
    assert entries[0]["details"]["from"] == "executing"
    assert done.as_dict() == svc.get(rid).as_dict()
    assert engine.audit.verify() == []


def test_an_access_run_that_fails_leaves_its_approval_written_and_the_request_failed(
        engine: Engine, cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The approval not written yet is never lost: a run that fails writes it, then the failure."""
    import pledge.rights.request_run as request_run

    user = some_users(cfg, 1)[0]
    svc = engine.requests
    rid = svc.open_on_initiative("access", {"email": user["email"]}, ground="legal_order", actor="officer:1").id

    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("the platform went away")

    monkeypatch.setattr(request_run, "_access_export", broken)
    done = svc.approve(rid, actor="officer:2")
    assert done.state == "failed" and svc.get(rid).state == "failed"
    entries = engine.audit.entries(limit=2)
    assert [e["action"] for e in entries] == ["request.failed", "request.executing"]
    assert entries[1]["actor"] == "officer:2" and entries[1]["details"]["approved"] is True
    monkeypatch.undo()
    assert svc.run(rid, actor="officer:1").state == "completed"  # and it can be run again
    assert engine.audit.verify() == []


def test_an_access_request_denied_while_its_run_ran_is_neither_approved_nor_completed(
        engine: Engine, cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another officer denies the request while its approval's run reads the platform: the
    approval's guarded move finds it denied, so nothing of the run is written (no export row,
    no access or completion entry) and the approval fails (409); it stays denied."""
    import pledge.rights.request_run as request_run
    from pledge.rights.requests import RequestStateError
    from pledge.store.tables.requests import request_exports

    user = some_users(cfg, 1)[0]
    svc = engine.requests
    rid = svc.open_on_initiative("access", {"email": user["email"]}, ground="legal_order", actor="officer:1").id
    real = request_run._access_export

    def denied_meanwhile(*args: Any, **kw: Any) -> Any:
        svc.deny(rid, "manifestly_unfounded", actor="officer:3", notify=False)
        return real(*args, **kw)

    monkeypatch.setattr(request_run, "_access_export", denied_meanwhile)
    files_before = set(svc.delivery.folder.glob("*.bin"))
    with pytest.raises(RequestStateError):
        svc.approve(rid, actor="officer:2")
    assert svc.get(rid).state == "denied"
    assert set(svc.delivery.folder.glob("*.bin")) == files_before  # the run's encrypted package is gone too
    actions = [e["action"] for e in engine.audit.entries(limit=2)]
    assert actions[0] == "request.denied" and "rights.access" not in actions, actions
    with engine.store.connect() as conn:
        assert conn.execute(select(request_exports.c.id).where(
            request_exports.c.request_id == svc.get(rid).row_id)).all() == []
    assert engine.audit.verify() == []


def test_an_approval_handed_to_a_runner_that_does_not_run_it_here_is_not_answered_as_done(
        engine: Engine, cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An in-process runner must hand the task its approval; one that does not (it sends the
    task away, or runs it from the store) gets an error, and the request is left as it was."""
    user = some_users(cfg, 6)[5]
    svc = engine.requests
    rid = svc.open_on_initiative("access", {"email": user["email"]}, ground="legal_order", actor="officer:1").id
    before = svc.get(rid)
    monkeypatch.setattr(engine.jobs, "submit", lambda name, payload, **kw: None)
    with pytest.raises(RuntimeError, match="did not carry out the approval"):
        svc.approve(rid, actor="officer:2")
    assert svc.get(rid).as_dict() == before.as_dict()


def test_the_link_in_an_approval_answer_is_signed_without_reading_the_export_it_just_wrote(
        engine: Engine, cfg: Path) -> None:
    """#19: the answer to ``POST …/approve`` carries a download link for the export the run
    just wrote; its count (0) is known, so it is not read back. The link opens the package
    once, like any other; a link made later reads the count."""
    from fastapi.testclient import TestClient

    from pledge.web.app import create_app

    user = some_users(cfg, 7)[6]
    rid = engine.requests.open_on_initiative("access", {"email": user["email"]}, ground="legal_order",
                                             actor="officer:1").id
    key = engine.admins.create_api_key("console", ["requests:approve", "requests:read", "exports:read"],
                                       actor="officer:2")
    client = TestClient(create_app(engine), headers={"Authorization": f"Bearer {key}"})
    seen: list[str] = []
    event.listen(engine.store.engine, "before_cursor_execute",
                 lambda _c, _cur, stmt, *_: seen.append(" ".join(stmt.split()).upper()))
    answer = client.post(f"/v1/requests/{rid}/approve")
    assert answer.status_code == 200 and answer.json()["state"] == "completed"
    assert not [s for s in seen if "REQUEST_EXPORTS.DOWNLOADS" in s], seen
    link = answer.json()["download_url"]
    assert client.get(link).status_code == 200
    assert client.get(link).status_code == 410  # used
    seen.clear()
    later = client.get(f"/v1/requests/{rid}").json()["download_url"]
    assert [s for s in seen if "REQUEST_EXPORTS.DOWNLOADS" in s]  # the count read: 1 now
    assert later != link and client.get(later).status_code == 200
    assert engine.requests.get(rid).export_downloads is None


def _seen_here(eng: Engine, *hooks: str) -> list[str]:
    """What the store is sent on this thread (not the mail sender's), in order: the first three
    words (upper case) of each statement at the ``hooks`` given (``before_execute``: through
    Connection.execute; ``before_cursor_execute``: any), and ``COMMIT`` for ``commit``."""
    here = threading.get_ident()
    seen: list[str] = []

    def noting(hook: str) -> Any:
        def note(*args: Any) -> None:
            if threading.get_ident() == here:
                stmt = "COMMIT" if hook == "commit" else str(args[1 if hook == "before_execute" else 2])
                seen.append(" ".join(stmt.split()[:3]).upper())
        return note

    for hook in hooks:
        event.listen(eng.store.engine, hook, noting(hook))
    return seen


def test_on_postgresql_the_completions_statements_run_on_the_driver_directly(cfg: Path, sink: DevMail,
                                                                            postgres_url: str) -> None:
    """#19: the request's read and moves, the export row, the mail's row and the audit entries
    are prebuilt statements: on PostgreSQL they run through psycopg directly (Store.run), not
    Connection.execute; the cursor's listeners still see each, and what is stored is right."""
    eng = make_engine(cfg, Clock(START), sink.port, database_url=postgres_url)
    try:
        person = some_users(cfg, 3)[2]
        rid = eng.requests.open_on_initiative("access", {"email": person["email"]}, ground="legal_order",
                                              actor="officer:1").id
        through_sa, cursor_level = _seen_here(eng, "before_execute"), _seen_here(eng, "before_cursor_execute")
        done = eng.requests.approve(rid, actor="officer:2")
        assert done.state == "completed"
        direct = ["SELECT REQUESTS.ID, REQUESTS.PUBLIC_ID,", "UPDATE REQUESTS SET", "INSERT INTO REQUEST_EXPORTS",
                  "INSERT INTO OUTBOX", "WITH E0 AS"]
        for stmt in direct:
            assert stmt in cursor_level, (stmt, cursor_level)
            assert stmt not in through_sa, (stmt, through_sa)
        assert done.as_dict() == eng.requests.get(rid).as_dict()
        with eng.store.connect() as conn:
            from pledge.store.tables.outbox import outbox
            from pledge.store.tables.requests import request_exports

            export = conn.execute(select(request_exports).where(request_exports.c.request_id == done.row_id)).one()
            assert export.token == done.result["export"] and export.downloads == 0 and export.size > 0
            assert conn.execute(select(outbox.c.reference).where(
                outbox.c.reference == f"request:{rid}:completed")).scalar()
        assert [e["action"] for e in eng.audit.entries(limit=3)] == ["request.completed", "rights.access",
                                                                       "request.executing"]
        assert eng.audit.verify() == []
    finally:
        eng.close()


def test_on_postgresql_an_erasure_keeps_its_ledger_and_work_list_right_on_the_direct_path(
        cfg: Path, sink: DevMail, postgres_url: str) -> None:
    """#19: the erasure's checkpoint read, its ledger intent and its finish (ledger done, work
    list cleared, done marker) run on the driver directly on PostgreSQL; what they leave is what
    a run leaves: the entry done, only the marker kept, the chain whole."""
    from pledge.store.tables.core import checkpoints

    eng = make_engine(cfg, Clock(START), sink.port, database_url=postgres_url)
    try:
        person = some_users(cfg, 4)[3]
        rid = eng.requests.open_on_initiative("erasure", {"email": person["email"]}, ground="legal_order",
                                              actor="officer:1").id
        through_sa = _seen_here(eng, "before_execute")
        done = eng.requests.approve(rid, actor="officer:2")
        assert done.state in ("completed", "partially_completed")
        assert not [s for s in through_sa if s.startswith(("INSERT INTO ERASURE_LEDGER", "WITH STEPS_CLEARED",
                                                           "SELECT CHECKPOINTS.KEY"))], through_sa
        with eng.store.connect() as conn:
            ledger = conn.execute(select(erasure_ledger.c.status, erasure_ledger.c.done_at)).all()
            keys = conn.execute(select(checkpoints.c.key, checkpoints.c.value)).all()
        assert [r.status for r in ledger] == ["done"] and ledger[0].done_at is not None
        assert len(keys) == 1 and keys[0][0].endswith(":meta") and '"status": "done"' in keys[0][1], keys
        assert eng.audit.verify() == []
    finally:
        eng.close()


def test_an_access_completion_that_fails_leaves_the_approval_written_and_the_request_executing(
        engine: Engine, cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The completing transaction fails (a crash between the run and its commit): the approval
    is written on its own all the same, so the request stands approved and ``executing``, as
    when the approval was written first; nothing of the run is written, and a re-run completes."""
    from pledge.store.tables.requests import request_exports

    user = some_users(cfg, 8)[7]
    svc = engine.requests
    rid = svc.open_on_initiative("access", {"email": user["email"]}, ground="legal_order", actor="officer:1").id
    real_move = crash_before_completing(monkeypatch)
    files_before = set(svc.delivery.folder.glob("*.bin"))
    with pytest.raises(RuntimeError, match="crash between"):
        svc.approve(rid, actor="officer:2")
    assert svc.get(rid).state == "executing"
    assert set(svc.delivery.folder.glob("*.bin")) == files_before  # rolled back: no package without a row
    entries = engine.audit.entries(limit=1)
    assert entries[0]["action"] == "request.executing" and entries[0]["actor"] == "officer:2"
    with engine.store.connect() as conn:
        assert conn.execute(select(request_exports.c.id).where(
            request_exports.c.request_id == svc.get(rid).row_id)).all() == []
    monkeypatch.setattr(RequestService, "_audit_move", real_move)
    assert svc.run(rid, actor="officer:1").state == "completed"
    assert engine.audit.verify() == []


def _actions(engine: Engine, rid: str) -> list[str]:
    return [e["action"] for e in reversed(engine.audit.entries()) if e["target"] == f"request:{rid}"]


def test_an_approval_whose_run_fails_after_another_approval_won_is_refused_not_answered_as_done(
        engine: Engine, cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by attacking it: officer A approves while officer B's run is reading the platform;
    B's run then fails. B's approval never happened, so B gets a conflict, not A's outcome."""
    import pledge.rights.request_run as request_run
    from pledge.rights.requests import RequestStateError

    user = some_users(cfg, 9)[8]
    svc = engine.requests
    rid = svc.open_on_initiative("access", {"email": user["email"]}, ground="legal_order", actor="officer:1").id
    real = request_run._access_export
    depth = {"n": 0}

    def other_approves_then_breaks(*args: Any, **kw: Any) -> Any:
        depth["n"] += 1
        if depth["n"] == 1:
            assert svc.approve(rid, actor="officer:A").state == "completed"
            raise RuntimeError("B's platform read failed")
        return real(*args, **kw)

    monkeypatch.setattr(request_run, "_access_export", other_approves_then_breaks)
    with pytest.raises(RequestStateError, match="not approved"):
        svc.approve(rid, actor="officer:B")
    assert svc.get(rid).state == "completed"
    assert _actions(engine, rid).count("request.executing") == 1 and "request.failed" not in _actions(engine, rid)
    assert engine.audit.verify() == []


def test_an_approval_whose_run_fails_after_a_denial_is_refused_not_answered_as_denied(
        engine: Engine, cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by attacking it: a denial lands while the run reads the platform, and the run
    fails: the approval never happened; the answer is a conflict and the request stays denied."""
    import pledge.rights.request_run as request_run
    from pledge.rights.requests import RequestStateError

    user = some_users(cfg, 10)[9]
    svc = engine.requests
    rid = svc.open_on_initiative("access", {"email": user["email"]}, ground="legal_order", actor="officer:1").id

    def denied_then_broken(*_a: Any, **_k: Any) -> Any:
        svc.deny(rid, "manifestly_unfounded", actor="officer:3", notify=False)
        raise RuntimeError("the platform went away")

    monkeypatch.setattr(request_run, "_access_export", denied_then_broken)
    with pytest.raises(RequestStateError, match="not approved"):
        svc.approve(rid, actor="officer:2")
    assert svc.get(rid).state == "denied"
    assert "request.executing" not in _actions(engine, rid) and "request.failed" not in _actions(engine, rid)
    assert engine.audit.verify() == []


def test_on_postgresql_two_servers_approving_one_request_at_once_complete_it_once(
        cfg: Path, sink: DevMail, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two engines on one store (two servers) approve the same access request while both runs
    read the platform: one completes it, the other is refused (409 through the API); one
    approval, one access and one completion entry, one export row and one mail, and no file of
    the refused run left behind. Three rounds."""
    import pledge.rights.request_run as request_run
    from pledge.rights.requests import RequestStateError
    from pledge.store.tables.outbox import outbox
    from pledge.store.tables.requests import request_exports

    a = make_engine(cfg, Clock(START), sink.port, database_url=postgres_url)
    b = make_engine(cfg, Clock(START), sink.port, database_url=postgres_url)
    real = request_run._access_export
    together = threading.Barrier(2, timeout=60)

    def both_running(*args: Any, **kw: Any) -> Any:
        together.wait()  # each run is past its read of the row before either writes
        return real(*args, **kw)

    monkeypatch.setattr(request_run, "_access_export", both_running)
    try:
        for person in some_users(cfg, 14)[11:14]:
            together.reset()
            rid = a.requests.open_on_initiative("access", {"email": person["email"]}, ground="legal_order",
                                                actor="officer:1").id
            files_before = set(a.requests.delivery.folder.glob("*.bin"))
            out: dict[str, Any] = {}

            def approve(name: str, eng: Engine, rid: str = rid, out: dict[str, Any] = out) -> None:
                try:
                    out[name] = eng.requests.approve(rid, actor=f"officer:{name}")
                except Exception as exc:  # noqa: BLE001 - the race's loser
                    out[name] = exc

            threads = [threading.Thread(target=approve, args=(n, e)) for n, e in (("A", a), ("B", b))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert sorted(type(v).__name__ for v in out.values()) == ["RequestStateError", "RequestView"], out
            won = next(v for v in out.values() if not isinstance(v, RequestStateError))
            assert won.state == "completed" and a.requests.get(rid).state == "completed"
            acts = _actions(a, rid)
            assert acts.count("request.executing") == 1 and acts.count("request.completed") == 1, acts
            with a.store.connect() as conn:
                exports = conn.execute(select(request_exports.c.token, request_exports.c.path).where(
                    request_exports.c.request_id == won.row_id)).all()
                mails = conn.execute(select(outbox.c.id).where(
                    outbox.c.reference == f"request:{rid}:completed")).all()
            assert [e.token for e in exports] == [won.result["export"]] and len(mails) == 1
            assert set(a.requests.delivery.folder.glob("*.bin")) - files_before == {Path(exports[0].path)}
        assert a.audit.verify() == []
    finally:
        a.close()
        b.close()


def test_a_move_through_a_state_is_checked_at_both_steps(engine: Engine, cfg: Path) -> None:
    """#19: the approval written with its run is one UPDATE through ``executing``; each of its
    two moves must be allowed. From a request awaiting approval it completes; from a denied one
    it is refused and nothing is written."""
    from pledge.rights.requests import RequestStateError

    svc = engine.requests
    users = some_users(cfg, 2)
    waiting = svc.open_on_initiative("access", {"email": users[0]["email"]}, ground="legal_order", actor="o:1").id
    denied = svc.open_on_initiative("access", {"email": users[1]["email"]}, ground="legal_order", actor="o:1").id
    svc.deny(denied, "manifestly_unfounded", actor="o:1", notify=False)
    with engine.store.begin() as conn, engine.audit.batch(conn):
        row = svc._row(conn, waiting)
        assert row.state in ("verified", "awaiting_approval")
        svc._write_move(conn, row, "completed", through="executing", result={})
    assert svc.get(waiting).state == "completed"
    with pytest.raises(RequestStateError, match="denied; it cannot become executing"), engine.store.begin() as conn:
        svc._write_move(conn, svc._row(conn, denied), "completed", through="executing", result={})
    assert svc.get(denied).state == "denied"
