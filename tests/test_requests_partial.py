"""An erasure that keeps records the law requires says so: "partially completed".

omni-one's seed: "we retain transaction and tax records for the period required by tax
law" (5 years, counted from the end of the tax year). A person with invoices inside that
period keeps them after erasure, so the request ends ``partially_completed``; a person with
no invoices ends ``completed``. The people are picked with plain SQL, and what is left is
read with plain SQL.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from tests.requests_support import START, Clock, deployment, make_engine, smtp_sink


def _rows(cfg: Path, sql: str, **params: object) -> list[dict[str, object]]:
    eng = create_engine(f"sqlite:///{cfg.parent / 'platform.db'}")
    with eng.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text(sql), params)]
    eng.dispose()
    return rows


def test_kept_invoices_make_an_erasure_partial_and_none_make_it_complete(tmp_path: Path) -> None:
    cfg = deployment(tmp_path, users=60)
    recent = START.replace(year=START.year - 2).strftime("%Y-%m-%d")
    with_invoices = _rows(cfg, "SELECT u.id, u.email FROM users u WHERE u.status = 'active' AND EXISTS "
                               "(SELECT 1 FROM invoices i WHERE i.user_id = u.id AND i.issued_at >= :d) "
                               "ORDER BY u.id LIMIT 1", d=recent)[0]
    without = _rows(cfg, "SELECT u.id, u.email FROM users u WHERE u.status = 'active' AND NOT EXISTS "
                         "(SELECT 1 FROM invoices i WHERE i.user_id = u.id) ORDER BY u.id LIMIT 1")[0]
    invoices = [r["id"] for r in _rows(cfg, "SELECT id FROM invoices WHERE user_id = :u AND issued_at >= :d",
                                       u=with_invoices["id"], d=recent)]
    with smtp_sink() as sink:
        engine = make_engine(cfg, Clock(START), sink.port, database_url=f"sqlite:///{tmp_path / 'store.db'}")
        svc = engine.requests
        states = {}
        for person in (with_invoices, without):
            rid = svc.open_on_initiative("erasure", {"email": str(person["email"])}, ground="legal_order",
                                         actor="officer:1").id
            states[person["id"]] = svc.approve(rid, actor="officer:1").state
        engine.close()
    assert states[with_invoices["id"]] == "partially_completed"
    assert states[without["id"]] == "completed"
    listed = ",".join(str(int(str(i))) for i in invoices)
    kept = [r["id"] for r in _rows(cfg, f"SELECT id FROM invoices WHERE id IN ({listed})")]
    assert invoices and kept == invoices  # the kept invoices are really there
    assert not _rows(cfg, "SELECT id FROM users WHERE lower(email) = lower(:e)", e=without["email"])
