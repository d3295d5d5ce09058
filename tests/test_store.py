"""The store: migrations apply on SQLite and PostgreSQL and agree with the models."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from pledge.audit import AuditLog
from pledge.store import Store
from pledge.store.tables import metadata


def _diff(store: Store) -> list[object]:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migrations_apply_and_match_models(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}" if kind == "sqlite" else request.getfixturevalue("postgres_url")
    store = Store(url)
    assert _diff(store) == []
    store.migrate()  # a second run is a no-op
    with store.connect() as conn:
        tables = set(metadata.tables)
        assert "audit_log" in tables and "erasure_ledger" in tables
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() == 0
    store.dispose()


def test_default_sqlite_store_is_made_on_first_use(tmp_path: Path) -> None:
    db = tmp_path / ".pledge" / "store.db"
    Store(f"sqlite:///{db}")
    assert db.exists()


def test_audit_chain_detects_edit(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    log = AuditLog(store, lambda: datetime(2026, 1, 1, tzinfo=UTC), keys=["k" * 32])
    for i in range(3):
        log.record("test.event", target=f"t{i}", details={"i": i})
    assert log.verify() == []
    with store.begin() as conn:
        conn.execute(text("UPDATE audit_log SET target = 'forged' WHERE id = 2"))
    problems = log.verify()
    assert [p.entry_id for p in problems] == [2]
