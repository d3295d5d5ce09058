"""The blob hooks beyond requests (#16): datamap check/discover on the stores, platform create
writing files, the sweep and replay hooks (plan by row key, delete after commit), and the
orphan checks pledge prove is to run. Files in a folder, read back with os.scandir; rows
deleted and restored with plain SQL."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from pledge.cli import app
from pledge.datamap.blobs import KeyTemplate
from pledge.rights import blob_erasure
from pledge.rights.blob_orphans import blob_findings, erased_blobs_remaining, orphan_blobs, template_pattern
from tests.blob_rights_support import BlobDeployment, make_deployment

runner = CliRunner()


def test_datamap_discover_lists_places_no_collection_declares(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path, "omni-one", "folder", users=10)
    (dep.folder / "avatars").mkdir()
    (dep.folder / "avatars" / "7.png").write_bytes(b"x")
    (dep.folder / "loose.txt").write_bytes(b"y")
    result = runner.invoke(app, ["datamap", "discover", "-c", str(dep.cfg), "--sample", "0", "--format", "json"])
    assert result.exit_code == 1, result.output
    places = {(p["kind"], p["where"]) for p in json.loads(result.output)["undeclared_blobs"]}
    assert places == {("prefix", "avatars/"), ("file", "loose.txt")}  # uploads/ is declared: not listed
    shutil.rmtree(dep.folder / "avatars")
    (dep.folder / "loose.txt").unlink()
    clean = runner.invoke(app, ["datamap", "discover", "-c", str(dep.cfg), "--sample", "0", "--format", "json"])
    assert json.loads(clean.output)["undeclared_blobs"] == []


def test_datamap_check_fails_on_an_unreachable_store(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path, "omni-one", "folder", users=10)
    ok = runner.invoke(app, ["datamap", "check", "-c", str(dep.cfg), "--format", "json"])
    assert not [f for f in json.loads(ok.output)["findings"] if f["code"] == "store-unreachable"], ok.output
    shutil.rmtree(dep.cfg.parent / "blobs")  # an unmounted volume, a mistyped path
    bad = runner.invoke(app, ["datamap", "check", "-c", str(dep.cfg), "--format", "json"])
    assert bad.exit_code == 1
    found = [f for f in json.loads(bad.output)["findings"] if f["code"] == "store-unreachable"]
    assert [f["path"] for f in found] == ["stores.uploads"] and "does not exist" in found[0]["message"]


def test_platform_create_writes_the_files_of_its_rows(tmp_path: Path) -> None:
    dest = tmp_path / "onestepai"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "onestepai", dest,
                    ignore=shutil.ignore_patterns("*.db", ".pledge", "blobs"))
    result = runner.invoke(app, ["platform", "create", "-c", str(dest / "pledge.yaml"), "-n", "8", "-q", "--json"])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(dest / "platform.db") as conn:
        media = conn.execute("SELECT id, user_id FROM media").fetchall()
    files = {p.relative_to(dest / "blobs" / "media").as_posix() for p in (dest / "blobs" / "media").rglob("*.png")}
    assert media and files == {f"media/{u}/{i}.png" for i, u in media}
    assert json.loads(result.output)["files (media)"] == len(media)


def _delete_rows(dep: BlobDeployment, table: str, ids: list[int]) -> None:
    with sqlite3.connect(dep.db) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute(f"DELETE FROM {table} WHERE id IN ({','.join('?' * len(ids))})", ids)


def test_sweep_hook_plans_by_row_key_and_deletes_only_committed_rows(tmp_path: Path) -> None:
    """What the retention sweep is to call: plan_keys before its DELETE, after_commit once it
    has committed. Rows of a batch that rolled back keep their files."""
    dep = make_deployment(tmp_path, "onestepai", "folder", users=20)
    media = dep.sql("SELECT id, user_id FROM media ORDER BY id")
    swept, spared = media[:6], media[6:9]
    before = dep.listing()
    engine = dep.engine()
    try:
        ref = "retention:test-run"
        keys = [(i,) for i, _ in swept + spared]
        assert blob_erasure.plan_keys(engine, ref, "main.media", keys) == 9
        assert blob_erasure.plan_keys(engine, ref, "main.media", keys) == 0  # a resumed range plans nothing twice
        _delete_rows(dep, "media", [i for i, _ in swept])  # the sweep's batch commits; the other rolls back
        out = blob_erasure.after_commit(engine, ref)
    finally:
        engine.close()
    gone = {f"media/{u}/{i}.png" for i, u in swept}
    assert (out.gone, out.failed, out.kept) == (6, 0, 3)
    assert dep.listing() == {k: n for k, n in before.items() if k not in gone}


def test_replay_hook_deletes_restored_files_and_prove_sees_them_first(tmp_path: Path) -> None:
    """A restore of the database and the folder from before an erasure brings the files back:
    the orphan check names them, and the replay hook (plan_person before the re-erasure,
    after_commit after it) deletes them again."""
    dep = make_deployment(tmp_path, "omni-one", "folder", users=20)
    uid, email, _ = dep.people()[0]
    mine = dep.keys_of(uid)
    backup = tmp_path / "backup"
    shutil.copytree(dep.cfg.parent / "blobs", backup / "blobs")
    shutil.copyfile(dep.db, backup / "platform.db")
    engine = dep.engine()
    try:
        from pledge.rights.erasure import erase

        assert blob_erasure.plan_person(engine, "request:1", {"email": email}) == len(mine)
        erase(engine, {"email": email}, request_id="first")
        assert blob_erasure.after_commit(engine, "request:1").gone == len(mine)
        assert not mine & set(dep.listing()) and erased_blobs_remaining(engine) == [] == orphan_blobs(engine)
        engine.close()
        shutil.rmtree(dep.cfg.parent / "blobs")  # the restore: database and files from the backup
        shutil.copytree(backup / "blobs", dep.cfg.parent / "blobs")
        shutil.copyfile(backup / "platform.db", dep.db)
        engine = dep.engine()
        back = erased_blobs_remaining(engine)
        assert {o.key for o in back} == mine
        findings = blob_findings(engine)
        assert findings[0].status == "broken" and findings[0].detail["erased_back"] == len(mine)
        assert blob_erasure.plan_person(engine, "replay:1", {"email": email}) == len(mine)
        erase(engine, {"email": email}, request_id="replayed", source="replay")
        assert blob_erasure.after_commit(engine, "replay:1").gone == len(mine)
        assert not mine & set(dep.listing())
        assert blob_findings(engine)[0].status == "kept"
    finally:
        engine.close()


def test_orphan_check_reads_keys_back_into_rows(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path, "onestepai", "folder", users=10)
    mid, user = dep.sql("SELECT id, user_id FROM media ORDER BY id LIMIT 1")[0]
    (dep.folder / "media" / "999999").mkdir(parents=True)
    (dep.folder / "media" / "999999" / "424242.png").write_bytes(b"stray")
    other = dep.sql("SELECT id FROM users WHERE id != ? LIMIT 1", user)[0][0]
    moved = dep.folder / "media" / str(other) / f"{mid}.png"
    moved.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(dep.folder / "media" / str(user) / f"{mid}.png", moved)
    engine = dep.engine()
    try:
        found = {(o.key, o.why) for o in orphan_blobs(engine)}
    finally:
        engine.close()
    assert found == {("media/999999/424242.png", "its row does not exist"),
                     (f"media/{other}/{mid}.png", "its row names another key")}
    pattern = template_pattern(KeyTemplate.parse("media/{user_id}/{id}.png"))
    assert pattern.match("media/3/4.png") and not pattern.match("media/3/4.png.bak")


def test_resume_settles_a_batch_a_crash_left_planned(tmp_path: Path) -> None:
    """A sweep batch planned its files, committed its DELETE and died: the next run uses a new
    reference, so resume_pending (worker start, sweep start) confirms and deletes the old one's."""
    dep = make_deployment(tmp_path, "omni-one", "folder", users=30)
    ids = [i for (i,) in dep.sql("SELECT id FROM files ORDER BY id LIMIT 5")]
    kept = [i for (i,) in dep.sql("SELECT id FROM files ORDER BY id LIMIT 2 OFFSET 5")]
    assert len(kept) == 2
    before = dep.listing()
    engine = dep.engine()
    try:
        blob_erasure.plan_keys(engine, "retention:crashed", "main.files", [(i,) for i in ids + kept])
        _delete_rows(dep, "files", ids)
        out = blob_erasure.resume_pending(engine)
        assert blob_erasure.counts(engine, "retention:crashed") == {"gone": 5, "planned": 2}
    finally:
        engine.close()
    assert (out.gone, out.failed, out.kept) == (5, 0, 2)
    assert dep.listing() == {k: n for k, n in before.items() if k not in {f"uploads/{i}" for i in ids}}


def test_ledger_replay_and_prove_reach_restored_files(tmp_path: Path) -> None:
    """The wiring, not the hooks alone: after a restore of the database and the folder,
    `pledge prove` reports the erased person's files as broken, and the real ledger replay
    deletes them again and says how many; the proof is then kept."""
    from datetime import timedelta

    from pledge.prove.run import prove
    from pledge.retention.replay import replay
    from pledge.rights.erasure import erase

    dep = make_deployment(tmp_path, "omni-one", "folder", users=20)
    uid, email, _ = dep.people()[0]
    mine = dep.keys_of(uid)
    assert mine
    backup = tmp_path / "backup"
    shutil.copytree(dep.cfg.parent / "blobs", backup / "blobs")
    shutil.copyfile(dep.db, backup / "platform.db")
    engine = dep.engine()
    try:
        since = engine.now() - timedelta(hours=1)
        blob_erasure.plan_person(engine, "request:1", {"email": email})
        erase(engine, {"email": email}, request_id="first")
        blob_erasure.after_commit(engine, "request:1")
        assert not mine & set(dep.listing())
        engine.close()
        shutil.rmtree(dep.cfg.parent / "blobs")
        shutil.copytree(backup / "blobs", dep.cfg.parent / "blobs")
        shutil.copyfile(backup / "platform.db", dep.db)
        engine = dep.engine()
        assert mine <= set(dep.listing())  # the restore brought them back
        before = {f.id: f for f in prove(engine).findings}["blobs:erased"]
        assert before.status == "broken" and before.detail["erased_back"] == len(mine)
        report = replay(engine, since, force=True)
        assert report["files_deleted"] == len(mine) and report["files_pending"] == 0
        assert not mine & set(dep.listing())
        after = {f.id: f for f in prove(engine).findings}["blobs:erased"]
        assert after.status == "kept", after.detail
    finally:
        engine.close()


def test_stale_planned_intents_are_settled_by_their_rows(tmp_path: Path, any_db_url: str) -> None:
    """A sweep that crashed after planning leaves ``planned`` intents. Once older than a day each
    row is read again: a row that is gone (its deletion committed) loses its file; a row that
    survived (its deletion rolled back) keeps its file and the intent is dropped. Younger intents
    wait for their run, on both sides of the day. Pledge's store (the intents table) on SQLite,
    PostgreSQL and MariaDB."""
    from datetime import timedelta

    from sqlalchemy import update

    from pledge.store.tables.blobs import blob_deletions

    dep = make_deployment(tmp_path, "omni-one", "folder", users=30, store_url=any_db_url)
    ids = [i for (i,) in dep.sql("SELECT id FROM files ORDER BY id LIMIT 5")]
    assert len(ids) == 5
    old_gone, old_kept, young_gone, young_kept, just_old_kept = ids
    ages = {old_gone: 25, old_kept: 25, young_gone: 23, young_kept: 23, just_old_kept: 24.1}
    before = dep.listing()
    engine = dep.engine()
    try:
        ref = "retention:crashed-long-ago"
        assert blob_erasure.plan_keys(engine, ref, "main.files", [(i,) for i in ids]) == 5
        now = engine.now()
        with engine.store.begin() as conn:  # the crash happened this many hours ago
            for i, hours in ages.items():
                conn.execute(update(blob_deletions).where(blob_deletions.c.blob_key == f"uploads/{i}").values(
                    created_at=now - timedelta(hours=hours), updated_at=now - timedelta(hours=hours)))
        _delete_rows(dep, "files", [old_gone, young_gone])  # these committed; the others rolled back
        assert blob_erasure.drop_stale_planned(engine) == 2  # old_kept and just_old_kept
        assert blob_erasure.counts(engine, ref) == {"gone": 1, "planned": 2}
        assert dep.listing() == {k: n for k, n in before.items() if k != f"uploads/{old_gone}"}
        out = blob_erasure.resume_pending(engine)  # the young ones: young_gone's row is gone, young_kept waits
        assert (out.gone, out.kept, out.dropped) == (1, 1, 0)
        assert blob_erasure.counts(engine, ref) == {"gone": 2, "planned": 1}
        later = blob_erasure.resume_pending(engine, stale_after=timedelta(hours=22))  # a day on: dropped
        assert (later.gone, later.kept, later.dropped) == (0, 0, 1)
        assert blob_erasure.counts(engine, ref) == {"gone": 2}
    finally:
        engine.close()
    assert dep.listing() == {k: n for k, n in before.items() if k not in {f"uploads/{old_gone}", f"uploads/{young_gone}"}}
    assert {i for (i,) in dep.sql("SELECT id FROM files WHERE id IN (?, ?, ?)", old_kept, young_kept,
                                  just_old_kept)} == {old_kept, young_kept, just_old_kept}
