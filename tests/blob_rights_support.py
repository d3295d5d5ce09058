"""Deployments of the example platforms with real files, in a folder or on SeaweedFS, and the
views of them the blob rights tests compare with: listings made without Pledge (os.scandir,
boto3's list_objects_v2) and the person's rows read with plain SQL."""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pledge.datamap.blobs import override_variable
from pledge.engine import Engine
from pledge.platforms.blobfiles import targets_for, write_blobs
from pledge.settings import Settings, load_config
from tests.blob_services import SeaweedServer
from tests.requests_support import deployment

#: example -> (its store, SQL giving (user id, email, file rows) per user, SQL of one user's keys)
EXAMPLES = {
    "omni-one": ("uploads",
                 "SELECT u.id, u.email, COUNT(f.id) AS n FROM users u JOIN files f ON f.owner_id = u.id "
                 "GROUP BY u.id, u.email ORDER BY n DESC, u.id LIMIT 3",
                 "SELECT 'uploads/' || id FROM files WHERE owner_id = ?"),
    "onestepai": ("media",
                  "SELECT u.id, u.email, COUNT(m.id) AS n FROM users u JOIN media m ON m.user_id = u.id "
                  "GROUP BY u.id, u.email ORDER BY n DESC, u.id LIMIT 3",
                  "SELECT 'media/' || user_id || '/' || id || '.png' FROM media WHERE user_id = ?"),
}


@dataclass
class BlobDeployment:
    """One example deployment whose files live in a folder or under a bucket's prefix."""

    example: str
    cfg: Path
    backend: str
    server: SeaweedServer | None = None
    bucket: str = ""
    prefix: str = ""
    #: Pledge's own store (the intents table) when not the config's SQLite file
    store_url: str | None = None

    @property
    def store_name(self) -> str:
        return EXAMPLES[self.example][0]

    @property
    def db(self) -> Path:
        return self.cfg.parent / "platform.db"

    @property
    def folder(self) -> Path:
        return self.cfg.parent / "blobs" / self.store_name

    def env(self) -> dict[str, str]:
        """What moves the blob store onto S3 (PLEDGE_BLOBS_<NAME>) and Pledge's store onto another
        database (PLEDGE_DATABASE_URL), for this process or a child."""
        out = {"PLEDGE_DATABASE_URL": self.store_url} if self.store_url else {}
        if self.backend != "s3":
            return out
        assert self.server is not None
        url = f"s3://{self.bucket}/{self.prefix.rstrip('/')}?endpoint_url={self.server.endpoint}"
        return {**out, override_variable(self.store_name): url}

    def engine(self) -> Engine:
        s = Settings(environment="test", database_url=self.store_url)
        return Engine(load_config(self.cfg, s), s)

    def listing(self) -> dict[str, int]:
        """Every stored file's key and size, read without Pledge."""
        if self.backend == "s3":
            assert self.server is not None
            return {k[len(self.prefix):]: n for k, n in self.server.listing(self.bucket, self.prefix).items()}
        out: dict[str, int] = {}

        def scan(folder: Path, base: str) -> None:
            for entry in os.scandir(folder):
                if entry.is_dir(follow_symlinks=False):
                    scan(Path(entry.path), f"{base}{entry.name}/")
                elif entry.is_file(follow_symlinks=False):
                    out[f"{base}{entry.name}"] = entry.stat().st_size

        if self.folder.is_dir():
            scan(self.folder, "")
        return out

    def read(self, key: str) -> bytes:
        if self.backend == "s3":
            assert self.server is not None
            body: bytes = self.server.client().get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
            return body
        return (self.folder / key).read_bytes()

    def put(self, key: str, data: bytes) -> None:
        """Write a file into the store without Pledge (boto3's put_object, or a plain file)."""
        if self.backend == "s3":
            assert self.server is not None
            self.server.client().put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
            return
        path = self.folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def backup(self) -> tuple[bytes, dict[str, bytes]]:
        """The platform's database and every stored file, copied without Pledge."""
        return self.db.read_bytes(), {k: self.read(k) for k in self.listing()}

    def restore(self, copy: tuple[bytes, dict[str, bytes]]) -> None:
        """Put a backup back: the database file, and the store emptied and refilled."""
        db, files = copy
        self.db.write_bytes(db)
        if self.backend == "s3":
            assert self.server is not None
            client = self.server.client()
            for key in self.listing():
                client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        elif self.folder.exists():
            shutil.rmtree(self.folder)
            self.folder.mkdir(parents=True)
        for key, data in files.items():
            self.put(key, data)

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(query, args).fetchall()

    def insert(self, table: str, **values: Any) -> int:
        """Insert one row with plain SQL; its id."""
        with sqlite3.connect(self.db) as conn:
            cur = conn.execute(f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                               list(values.values()))
            return int(cur.lastrowid or 0)

    def people(self) -> list[tuple[int, str, int]]:
        """Users with the most files (id, email, files), by plain SQL."""
        return [(int(i), str(e), int(n)) for i, e, n in self.sql(EXAMPLES[self.example][1])]

    def keys_of(self, user_id: int) -> set[str]:
        """The user's file keys from their rows, by plain SQL."""
        return {str(k) for (k,) in self.sql(EXAMPLES[self.example][2], user_id)}


def deployment_for(request: Any, tmp_path: Path, example: str, backend: str, **kw: Any) -> BlobDeployment:
    """:func:`make_deployment` on the session's SeaweedFS (a prefix of its bucket) or a folder;
    ``request`` is the test's pytest request (for the S3 fixtures)."""
    if backend == "s3":
        return make_deployment(tmp_path, example, backend, server=request.getfixturevalue("s3_server"),
                               bucket=request.getfixturevalue("s3_bucket"),
                               prefix=request.getfixturevalue("s3_prefix"), **kw)
    return make_deployment(tmp_path, example, backend, **kw)


def make_deployment(tmp_path: Path, example: str, backend: str, *, server: SeaweedServer | None = None,
                    bucket: str = "", prefix: str = "", users: int = 30, store_url: str | None = None) -> BlobDeployment:
    """A copy of the example with a generated platform and its files written, in a folder or on
    S3 (the caller puts :meth:`BlobDeployment.env` in the environment first, for S3)."""
    cfg = deployment(tmp_path, example, users=users, files=False)
    dep = BlobDeployment(example, cfg, backend, server, bucket, prefix, store_url)
    saved = {k: os.environ.get(k) for k in dep.env()}
    os.environ.update(dep.env())
    try:
        engine = dep.engine()
        try:
            stores = {n: engine.blobs.get(n) for n in engine.blobs.names()}
            write_blobs(example, f"sqlite:///{dep.db}", targets_for(engine.dataset, stores))
        finally:
            engine.close()
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return dep


def cli_deployment(request: Any, tmp_path: Path, monkeypatch: Any) -> BlobDeployment:
    """:func:`deployment_for` on the test's ``(example, backend)`` parameter, with the
    environment the ``pledge`` commands read set for the test (``monkeypatch``)."""
    example, backend = request.param
    made = deployment_for(request, tmp_path, example, backend)
    for k, v in made.env().items():
        monkeypatch.setenv(k, v)
    return made
