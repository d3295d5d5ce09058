"""Plain retention deletes by key range (pledge.retention.ranged): one intent per planned
range written before the range starts, adaptive batches that never exceed their ceiling,
resumption inside the open range under the same intent, sparse keys, holds, and the
checkpoint in the delete's own transaction when the store shares the platform database.
Expected rows are worked out with plain SQL, not with the sweep's own selection."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, select

from pledge.engine import Engine
from pledge.platforms import REFERENCE, create_platform
from pledge.retention import ranged, sweep
from pledge.retention.holds import Holds
from pledge.settings import Settings
from pledge.store.tables.core import checkpoints, erasure_ledger
from tests.erasure_support import snapshot
from tests.retention_support import EXAMPLES, naive, rows

NOW = REFERENCE + timedelta(days=200)
CUT = naive(NOW - timedelta(days=30))
RULE = {"key": "old_messages", "name": "Old messages", "collections": ["main.messages"], "trigger": "created_at",
        "period": "P30D", "action": "delete", "cascade": False}


def _engine(tmp: Path, url: str, store_url: str | None = None) -> Engine:
    policy = yaml.safe_load((EXAMPLES / "omni-one/policy.yaml").read_text(encoding="utf-8"))
    policy["retention"] = [RULE]
    (tmp / "policy.yaml").write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    cfg = tmp / "pledge.yaml"
    cfg.write_text(f"name: ranged\npolicy: policy.yaml\ndataset: {EXAMPLES / 'omni-one/dataset.yaml'}\n"
                   f"platform_url: {url}\nstore_url: {store_url or 'sqlite:///' + str(tmp / 'store.db')}\n",
                   encoding="utf-8")
    return Engine.from_config_file(cfg, Settings(), clock=lambda: NOW)


def _platform(tmp: Path, users: int = 40) -> str:
    url = f"sqlite:///{tmp / 'platform.db'}"
    create_platform("omni-one", url, users=users, seed=11, progress=False)
    return url


def _messages(engine: Engine) -> dict[int, Any]:
    return {r[0]: naive(r[1]) for r in rows(engine.platform_engine("main"), "SELECT id, created_at FROM messages")}


def _range_entries(engine: Engine) -> list[dict[str, Any]]:
    with engine.store.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(erasure_ledger).where(erasure_ledger.c.source == "retention").order_by(erasure_ledger.c.id))]


def test_one_intent_per_range_written_first_and_resumed_inside_it(tmp_path: Path) -> None:
    engine = _engine(tmp_path, _platform(tmp_path))
    before = _messages(engine)
    expired = sorted(k for k, at in before.items() if at < CUT)
    assert len(expired) > 60, "the generator should leave many old messages"
    held = expired[len(expired) // 2: len(expired) // 2 + 3]
    Holds(engine).add_records("main.messages", ids=held, reason="litigation", expires_at=NOW + timedelta(days=90))

    part = sweep.run(engine, NOW, max_rows=25, batch_size=2, max_batch=8)
    assert part["status"] == "partial" and part["total_rows"] == 25
    entries = _range_entries(engine)
    assert len(entries) == 1 and entries[0]["status"] == "intent"
    scope = entries[0]["scope"]
    assert (scope["first_pk"], scope["last_pk"]) == (expired[0], expired[-1])
    assert scope["rule"] == "old_messages" and scope["cutoff"] and entries[0]["subject_keys"] == {}
    gone = set(before) - set(_messages(engine))
    assert len(gone) == 25 and gone <= set(expired) - set(held)
    assert gone == set(expired[:25]), "batches walk the range in key order"
    with engine.store.connect() as conn:
        saved = json.loads(conn.execute(select(checkpoints.c.value).where(
            checkpoints.c.key == "retention:all:old_messages:main.messages")).scalar_one())
    assert saved["range"]["entry"] == entries[0]["id"] and saved["last_pk"] in expired

    rest = sweep.run(engine, NOW, batch_size=2, max_batch=8)
    assert rest["resumed"] is True and rest["status"] == "done"
    entries = _range_entries(engine)
    assert [e["status"] for e in entries] == ["done"], "the resumed run finishes under the same intent"
    after = _messages(engine)
    assert set(before) - set(after) == set(expired) - set(held)
    assert {k for k, at in after.items() if at < CUT} == set(held)
    assert [a["target"] for a in engine.audit.entries(action="retention.sweep.range")] == [entries[0]["reference"]]
    summary = engine.audit.entries(action="retention.sweep.target")[0]["details"]
    assert 2 < summary["largest_batch"] <= 8, "batches grow while fast, never beyond max_batch"
    assert summary["batches"] < (len(expired) - 25) / 2
    assert engine.audit.verify() == []
    assert sweep.run(engine, NOW)["total_rows"] == 0
    engine.close()


def test_death_between_delete_and_checkpoint_resumes_to_the_uninterrupted_state(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    url_a = _platform(a)
    shutil.copy(a / "platform.db", b / "platform.db")
    whole = _engine(b, f"sqlite:///{b / 'platform.db'}")
    sweep.run(whole, NOW, batch_size=50)

    engine = _engine(a, url_a)
    real_save = ranged.RangeSweep._save
    calls = {"n": 0}

    def dies_after_second_batch(self: ranged.RangeSweep, last: Any, open_range: Any, conn: Any = None) -> None:
        if conn is None:  # the checkpoint after a batch's delete has committed
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("killed after the delete, before its checkpoint")
        real_save(self, last, open_range, conn)

    monkeypatch.setattr(ranged.RangeSweep, "_save", dies_after_second_batch)
    with pytest.raises(RuntimeError, match="killed"):
        sweep.run(engine, NOW, batch_size=4, max_batch=4)
    monkeypatch.setattr(ranged.RangeSweep, "_save", real_save)
    again = sweep.run(engine, NOW, batch_size=4, max_batch=4)
    assert again["resumed"] is True and again["status"] == "done"
    assert [e["status"] for e in _range_entries(engine)] == ["done"]
    assert snapshot(engine.platform_engine("main")) == snapshot(whole.platform_engine("main"))
    engine.close()
    whole.close()


def test_sparse_keys_need_no_empty_batches(tmp_path: Path) -> None:
    engine = _engine(tmp_path, _platform(tmp_path))
    eng = engine.platform_engine("main")
    with eng.begin() as conn:  # only every 9th message is old: the expired keys are sparse
        conn.exec_driver_sql("UPDATE messages SET created_at = ? WHERE id % 9 <> 0", (str(naive(NOW)),))
    before = _messages(engine)
    expired = {k for k, at in before.items() if at < CUT}
    assert len(expired) > 20
    report = sweep.run(engine, NOW, batch_size=4, max_batch=4)
    assert report["targets"][0]["rows"] == len(expired)
    # key spans of 4 alone would need about 9 batches per 4 rows; the sparse rule finds each end
    assert report["targets"][0]["batches"] <= len(expired) // 4 + 4
    assert set(before) - set(_messages(engine)) == expired
    engine.close()


def test_store_in_the_platform_database_checkpoints_in_the_delete_transaction(tmp_path: Path) -> None:
    url = _platform(tmp_path, users=20)
    engine = _engine(tmp_path, url, store_url=url)
    before = _messages(engine)
    expired = {k for k, at in before.items() if at < CUT}
    report = sweep.run(engine, NOW, batch_size=3, max_batch=3, max_rows=7)
    assert report["total_rows"] == 7
    state = sweep._Checkpoints(engine, "all").get("old_messages:main.messages")
    assert state is not None and state["rows"] == 7 and state["range"]
    assert ranged.same_database(engine, sweep._connector(engine, "main"))
    sweep.run(engine, NOW)
    assert set(before) - set(_messages(engine)) == expired
    engine.close()
    other = create_engine(url)
    try:
        assert rows(other, "SELECT count(*) FROM erasure_ledger WHERE status = 'done'")[0][0] >= 1
    finally:
        other.dispose()
