"""The rights reach the files (#16): access and portability packages hold exactly the person's
files; erasure deletes them after the SQL work commits, from durable intents, and a SIGKILL
between the two resumes to the same end state. omni-one and onestepai, folder and SeaweedFS;
every expectation from plain SQL and a listing made without Pledge."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from pledge.reports.certificate import to_html, verify
from pledge.rights import blob_erasure
from pledge.store.tables.blobs import blob_deletions
from tests.blob_rights_support import BlobDeployment, make_deployment
from tests.blob_services import SeaweedServer

CASES = [("omni-one", "folder"), ("onestepai", "folder"), ("omni-one", "s3"), ("onestepai", "s3")]


@pytest.fixture
def dep(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BlobDeployment]:
    example, backend = request.param
    if backend == "s3":
        server: SeaweedServer = request.getfixturevalue("s3_server")
        made = make_deployment(tmp_path, example, backend, server=server, bucket=request.getfixturevalue("s3_bucket"),
                               prefix=request.getfixturevalue("s3_prefix"))
    else:
        made = make_deployment(tmp_path, example, backend)
    for k, v in made.env().items():
        monkeypatch.setenv(k, v)
    yield made


def _zip_files(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


@pytest.mark.parametrize("dep", CASES, indirect=True, ids=["-".join(c) for c in CASES])
def test_the_package_holds_exactly_the_persons_files(dep: BlobDeployment) -> None:
    """The access package and the portability package, each checked the same way."""
    uid, email, n = dep.people()[0]
    expected = dep.keys_of(uid)
    listing = dep.listing()
    assert n >= 2 and expected <= set(listing)
    engine = dep.engine()
    try:
        from pledge.rights.access import write_access_zip
        from pledge.rights.portability import write_portability_zip

        packages = {}
        for kind, write in (("access", write_access_zip), ("portability", write_portability_zip)):
            buf = io.BytesIO()
            write(engine, {"email": email}, buf)
            packages[kind] = _zip_files(buf.getvalue())
    finally:
        engine.close()
    for files in packages.values():
        _check_package(dep, uid, expected, listing, files)


def _check_package(dep: BlobDeployment, uid: int, expected: set[str], listing: dict[str, int],
                   files: dict[str, bytes]) -> None:
    store = dep.store_name
    packaged = {p[len(f"files/{store}/"):]: data for p, data in files.items() if p.startswith(f"files/{store}/")}
    assert set(packaged) == expected  # exactly the files of the person's rows: no other person's
    for key, data in packaged.items():
        assert data == dep.read(key) and len(data) == listing[key]
    index = list(csv.DictReader(io.StringIO(files["files/index.csv"].decode())))
    assert {r["key"]: int(r["size"]) for r in index} == {k: listing[k] for k in expected}
    coll = "main.files" if dep.example == "omni-one" else "main.media"
    table = coll.split(".")[1]
    owner = "owner_id" if dep.example == "omni-one" else "user_id"
    rows = {str(i) for (i,) in dep.sql(f"SELECT id FROM {table} WHERE {owner} = ?", uid)}
    assert {r["row"] for r in index} == rows and {r["collection"] for r in index} == {coll}
    assert json.loads(files["files/index.json"])["missing"] == []


def _erase_request(engine: object, email: str) -> str:
    svc = engine.requests  # type: ignore[attr-defined]
    view = svc.open_on_initiative("erasure", {"email": email}, ground="child_under_minimum_age", note="test",
                                  actor="dpo@x")
    return str(view.id)


def _intents(engine: object) -> list[dict[str, object]]:
    with engine.store.connect() as conn:  # type: ignore[attr-defined]
        return [dict(r._mapping) for r in conn.execute(select(blob_deletions))]


@pytest.mark.parametrize("dep", CASES, indirect=True, ids=["-".join(c) for c in CASES])
def test_erasure_deletes_the_persons_files_and_only_those(dep: BlobDeployment) -> None:
    uid, email, _ = dep.people()[0]
    mine = dep.keys_of(uid)
    before = dep.listing()
    engine = dep.engine()
    try:
        rid = _erase_request(engine, email)
        done = engine.requests.approve(rid, actor="owner@x")
        intents = _intents(engine)
    finally:
        engine.close()
    assert done.state in ("completed", "partially_completed"), done.result
    after = dep.listing()
    assert not mine & set(after)  # none of the person's files remain
    assert after == {k: n for k, n in before.items() if k not in mine}  # every other file untouched
    assert done.result["summary"]["files_deleted"] == len(mine)
    # the signed certificate counts the files the store lost, per store, as the listing shows them
    body = verify(done.result["certificate"])
    removed = len(before) - len(after)
    assert body["files"] == {"stores": [{"store": dep.store_name, "deleted": removed, "pending": 0}],
                             "deleted": removed, "pending": 0}
    assert f"Files deleted: {removed} · still pending: 0." in to_html(done.result["certificate"])
    assert {i["status"] for i in intents} == {"gone"} and len(intents) == len(mine)
    assert all(i["blob_key"] == "" and i["row_key"] == [] for i in intents)  # no names kept
    assert not dep.sql("SELECT 1 FROM users WHERE id = ?", uid)


@pytest.mark.parametrize("dep", [("omni-one", "folder")], indirect=True, ids=["omni-one-folder"])
def test_an_erasure_with_files_reads_the_persons_rows_once(dep: BlobDeployment,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The files are planned from the rows the erasure's own plan is made from: one
    traversal of the person's data, not one for the files and another for the rows (#19)."""
    from pledge.rights import locate as locate_module

    traversals: list[object] = []
    real = locate_module.resolve

    def counted(*args: object, **kw: object) -> object:
        traversals.append(args[1])
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(locate_module, "resolve", counted)  # every traversal of a person goes through it
    uid, email, _ = dep.people()[0]
    mine = dep.keys_of(uid)
    engine = dep.engine()
    try:
        rid = _erase_request(engine, email)
        traversals.clear()
        done = engine.requests.approve(rid, actor="owner@x")
    finally:
        engine.close()
    assert done.state in ("completed", "partially_completed"), done.result
    assert done.result["summary"]["files_deleted"] == len(mine) > 0
    assert len(traversals) == 1, traversals


@pytest.mark.parametrize("dep", [("omni-one", "folder")], indirect=True, ids=["omni-one-folder"])
def test_another_members_upload_in_the_persons_conversation_stays(dep: BlobDeployment) -> None:
    """omni-one's data map walks from a conversation to its uploads (files.conversation_id).
    In a shared workspace another member can upload into the person's conversation: that
    upload is the other member's (files.owner_id), so erasing the person keeps its row and
    its file, and only unlinks it from the deleted conversation."""
    uid, email, _ = dep.people()[0]
    (conv,) = dep.sql("SELECT id FROM conversations WHERE user_id = ? ORDER BY id LIMIT 1", uid)[0]
    (other,) = dep.sql("SELECT id FROM users WHERE id != ? ORDER BY id LIMIT 1", uid)[0]
    fid = dep.insert("files", created_at="2026-11-01 00:00:00", conversation_id=conv, owner_id=other,
                     filename="minutes.txt", size=7)
    key = f"uploads/{fid}"
    dep.put(key, b"minutes")
    mine = dep.keys_of(uid)
    assert key not in mine and key in dep.listing()
    engine = dep.engine()
    try:
        done = engine.requests.approve(_erase_request(engine, email), actor="owner@x")
    finally:
        engine.close()
    assert done.state in ("completed", "partially_completed"), done.result
    assert dep.sql("SELECT conversation_id, owner_id FROM files WHERE id = ?", fid) == [(None, other)]
    assert not dep.sql("SELECT 1 FROM conversations WHERE id = ?", conv)
    after = dep.listing()
    assert dep.read(key) == b"minutes" and not mine & set(after)


@pytest.mark.parametrize("dep", [("omni-one", "folder"), ("onestepai", "s3")], indirect=True,
                         ids=["omni-one-folder", "onestepai-s3"])
def test_nothing_is_deleted_for_a_rolled_back_row(dep: BlobDeployment) -> None:
    uid, email, _ = dep.people()[0]
    mine = dep.keys_of(uid)
    before = dep.listing()
    engine = dep.engine()
    try:
        assert blob_erasure.plan_person(engine, "test:rollback", {"email": email}) == len(mine)
        table, owner = ("files", "owner_id") if dep.example == "omni-one" else ("media", "user_id")
        from sqlalchemy import text

        with engine.platform_engine("main").connect() as conn:  # the deletion runs, then rolls back
            tx = conn.begin()
            conn.execute(text("PRAGMA foreign_keys = OFF"))
            conn.execute(text(f"DELETE FROM {table} WHERE {owner} = :u"), {"u": uid})
            tx.rollback()
        out = blob_erasure.after_commit(engine, "test:rollback")
        left = _intents(engine)
    finally:
        engine.close()
    assert (out.gone, out.failed, out.kept) == (0, 0, len(mine))
    assert dep.listing() == before and left == []  # files kept, and the unconfirmed intents dropped


def _child(dep: BlobDeployment, code: str, *args: str, kill: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **dep.env()}
    env.pop(blob_erasure.KILL_VARIABLE, None)
    if kill:
        env[blob_erasure.KILL_VARIABLE] = kill
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                          timeout=240, cwd=dep.cfg.parent)


APPROVE = """
import sys
from pledge.engine import Engine
from pledge.settings import Settings, load_config
s = Settings(environment="test")
e = Engine(load_config(sys.argv[1], s), s)
print(e.requests.approve(sys.argv[2], actor="owner@x").state)
"""

KILL_CASES = [("omni-one", "folder", "after-sql"), ("omni-one", "s3", "before-delete"),
              ("onestepai", "s3", "after-sql"), ("onestepai", "folder", "before-delete")]


@pytest.mark.parametrize(("example", "backend", "point"), KILL_CASES, ids=["-".join(c) for c in KILL_CASES])
def test_sigkill_between_the_sql_commit_and_the_blob_deletion_resumes(
        example: str, backend: str, point: str, tmp_path: Path, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each example on each store kind, each killed at one of the two points (both points are
    met on both store kinds): the killed run resumed by `pledge requests run` ends as an
    uninterrupted run of the same request on an identical deployment."""
    deps = []
    for name in ("killed", "uninterrupted"):
        if backend == "s3":
            server = request.getfixturevalue("s3_server")
            bucket = request.getfixturevalue("s3_bucket")
            deps.append(make_deployment(tmp_path / name, example, backend, server=server, bucket=bucket,
                                        prefix=f"{request.getfixturevalue('s3_prefix')}{name}/"))
        else:
            deps.append(make_deployment(tmp_path / name, example, backend))
    killed, straight = deps
    for k, v in straight.env().items():  # the uninterrupted run is made here; the killed one in children
        monkeypatch.setenv(k, v)
    uid, email, _ = killed.people()[0]
    assert straight.people()[0] == (uid, email, killed.people()[0][2])  # the same seed: the same person
    mine, before = killed.keys_of(uid), killed.listing()
    rids = []
    for d in deps:
        engine = d.engine()
        try:
            rids.append(_erase_request(engine, email))
        finally:
            engine.close()
    dead = _child(killed, APPROVE, str(killed.cfg), rids[0], kill=point)
    assert dead.returncode == -9, dead.stderr[-2000:]
    assert not killed.sql("SELECT 1 FROM users WHERE id = ?", uid)  # the SQL work committed...
    assert killed.listing() == before  # ...and no file was deleted yet
    resumed = subprocess.run([str(Path(sys.executable).parent / "pledge"), "requests", "run", rids[0],
                              "--config", str(killed.cfg)], env={**os.environ, **killed.env()},
                             capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    engine = straight.engine()
    try:
        assert engine.requests.approve(rids[1], actor="owner@x").state in ("completed", "partially_completed")
    finally:
        engine.close()
    assert killed.listing() == straight.listing() == {k: n for k, n in before.items() if k not in mine}
    for table in ("users", "files" if example == "omni-one" else "media"):
        assert killed.sql(f"SELECT * FROM {table} ORDER BY id") == straight.sql(f"SELECT * FROM {table} ORDER BY id")
    results = []
    for d, rid in zip(deps, rids, strict=True):
        engine = d.engine()
        try:
            view = engine.requests.get(rid)
            results.append((view.state, view.result["summary"]["files_deleted"]))
        finally:
            engine.close()
    assert results[0] == results[1] and results[0][1] == len(mine)


def test_files_a_store_cannot_delete_stay_pending_and_a_rerun_finishes(tmp_path: Path, any_db_url: str) -> None:
    """The folder is gone (an unmounted volume) while the person is erased: the rows go, the
    files are not counted as deleted, the request says so (partially_completed, files_pending),
    and running it again once the folder is back deletes them. Pledge's store (the intents
    table: planned, pending with the store's reason, gone) on SQLite, PostgreSQL and MariaDB."""
    dep = make_deployment(tmp_path, "omni-one", "folder", store_url=any_db_url)
    uid, email, _ = dep.people()[0]
    mine, before = dep.keys_of(uid), dep.listing()
    aside = tmp_path / "unmounted"
    engine = dep.engine()
    try:
        rid = _erase_request(engine, email)
        blob_erasure.plan_person(engine, f"request:{rid}", {"email": email})  # planned while mounted
        dep.folder.rename(aside)
        first = engine.requests.approve(rid, actor="owner@x")
        assert first.state == "partially_completed"
        assert first.result["summary"]["files_deleted"] == 0
        assert first.result["summary"]["files_pending"] == len(mine)
        assert "does not exist" in first.result["files_not_deleted"][0]
        assert verify(first.result["certificate"])["files"] == {
            "stores": [{"store": "uploads", "deleted": 0, "pending": len(mine)}], "deleted": 0, "pending": len(mine)}
        assert not dep.sql("SELECT 1 FROM users WHERE id = ?", uid)
        aside.rename(dep.folder)
        again = engine.requests.run(rid, actor="owner@x")
    finally:
        engine.close()
    assert again.result["summary"]["files_deleted"] == len(mine) and "files_pending" not in again.result["summary"]
    assert dep.listing() == {k: n for k, n in before.items() if k not in mine}
    removed = len(before) - len(dep.listing())
    assert verify(again.result["certificate"])["files"] == {
        "stores": [{"store": "uploads", "deleted": removed, "pending": 0}], "deleted": removed, "pending": 0}


def _per_user_prefix(dep: BlobDeployment) -> None:
    """Declare onestepai's images by person instead of by image: everything under
    ``media/{user id}/`` is the user's (a prefix template on users), none on media."""
    path = dep.cfg.parent / "dataset.yaml"
    text = path.read_text(encoding="utf-8")
    by_image = '        blobs:\n          - {store: media, key: "media/{user_id}/{id}.png", description: "the image, faces outlined"}\n'
    assert by_image in text
    text = text.replace(by_image, "")
    users = "      - name: users\n        erasure: delete\n"
    assert text.count(users) == 1
    path.write_text(text.replace(users, users + '        blobs:\n          - {store: media, key: "media/{id}/"}\n'),
                    encoding="utf-8")


@pytest.mark.parametrize("dep", [("onestepai", "folder"), ("onestepai", "s3")], indirect=True,
                         ids=["onestepai-folder", "onestepai-s3"])
def test_a_per_user_prefix_template_reaches_every_file_under_it_and_no_other(dep: BlobDeployment) -> None:
    """A key template ending in ``/`` names a folder per person: access packages every file under
    the person's prefix (their images and a file no row names), erasure deletes them all, and a
    folder whose name merely starts with the person's id (``media/17/`` next to ``media/1/``) is
    another person's and stays."""
    _per_user_prefix(dep)
    uid, email, _ = dep.people()[0]
    dep.put(f"media/{uid}/profile/avatar.txt", b"no row names this file")
    dep.put(f"media/{uid}7/decoy.png", b"someone else's folder")
    before = dep.listing()
    mine = {k for k in before if k.startswith(f"media/{uid}/")}
    assert len(mine) >= 3 and f"media/{uid}7/decoy.png" in before
    engine = dep.engine()
    try:
        from pledge.rights.access import write_access_zip

        buf = io.BytesIO()
        write_access_zip(engine, {"email": email}, buf)
        files = _zip_files(buf.getvalue())
        packaged = {p[len("files/media/"):]: d for p, d in files.items() if p.startswith("files/media/")}
        assert set(packaged) == mine and all(packaged[k] == dep.read(k) for k in mine)
        done = engine.requests.approve(_erase_request(engine, email), actor="owner@x")
    finally:
        engine.close()
    assert done.state in ("completed", "partially_completed"), done.result
    assert dep.listing() == {k: n for k, n in before.items() if k not in mine}
    assert verify(done.result["certificate"])["files"] == {  # the person's one folder, no single files
        "stores": [{"store": "media", "deleted": 0, "pending": 0, "folders_deleted": 1}], "deleted": 0, "pending": 0}
    assert not dep.sql("SELECT 1 FROM users WHERE id = ?", uid)
