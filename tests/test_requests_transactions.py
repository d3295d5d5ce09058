"""#19: an in-process request runs its phases in few transactions, with the same outcome.

An erasure run here (no workers) changes the platform in one transaction per database, not one
per step; its completion writes the done marker, the ledger's "done" and both audit entries in
the request's completing transaction, the entries chained and inserted together. An access run
reads whole rows in one pass. The chain still verifies, and a re-run after a failed completion
ends where an uninterrupted run does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from pledge.devmail import DevMail
from pledge.engine import Engine
from pledge.rights.requests import RequestService
from pledge.store.tables.core import erasure_ledger
from pledge.tasks import InlineJobs
from tests.requests_support import START, Clock, deployment, make_engine, some_users


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
    real_move = RequestService._move

    def failing_move(self: RequestService, conn: Any, row: Any, new: str, **kw: Any) -> Any:
        if new in ("completed", "partially_completed"):
            raise RuntimeError("crash between the run and its completion")
        return real_move(self, conn, row, new, **kw)

    monkeypatch.setattr(RequestService, "_move", failing_move)
    with pytest.raises(RuntimeError):
        svc.approve(rid, actor="officer:2")
    assert svc.get(rid).state == "executing"
    actions = [e["action"] for e in engine.audit.entries()]
    assert "rights.erase.done" not in actions  # rolled back with the completion
    with engine.store.connect() as conn:
        assert conn.execute(select(erasure_ledger.c.status)).scalars().all() == ["intent"]
    monkeypatch.setattr(RequestService, "_move", real_move)
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
