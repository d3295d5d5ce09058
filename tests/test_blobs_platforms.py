"""Real files in the example platforms: one blob per files/media row, in a folder or on a real
S3 server, checked against the database and a listing made without Pledge."""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import zlib
from pathlib import Path

import pytest

from pledge.blobs import FileStore
from pledge.blobs.s3 import S3Store
from pledge.datamap.load import load_dataset
from pledge.platforms import create_platform
from pledge.platforms.blobfiles import targets_for, write_blobs
from tests.blob_services import SeaweedServer
from tests.conftest import EXAMPLES


def png_chunks(data: bytes) -> dict[bytes, list[bytes]]:
    """A PNG's chunks by type, each CRC checked (written here, not by pledge)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out: dict[bytes, list[bytes]] = {}
    at = 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        out.setdefault(kind, []).append(body)
        at += 12 + length
    return out


def walk(root: Path) -> dict[str, bytes]:
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_omni_one_uploads_are_real_files_in_a_folder(tmp_path: Path) -> None:
    db = tmp_path / "platform.db"
    create_platform("omni-one", f"sqlite:///{db}", 60, progress=False)
    dataset = load_dataset(EXAMPLES / "omni-one" / "dataset.yaml")
    counts = write_blobs("omni-one", f"sqlite:///{db}",
                         targets_for(dataset, {"uploads": FileStore(tmp_path / "uploads")}))
    files = rows(db, "SELECT id, filename FROM files")
    stored = walk(tmp_path / "uploads")
    assert len(files) > 10 and counts == {"files": len(files)}
    assert set(stored) == {f"uploads/{i}" for i, _ in files}
    kinds = set()
    for file_id, filename in files:
        data, ext = stored[f"uploads/{file_id}"], str(filename).rsplit(".", 1)[-1]
        if ext == "pdf":
            assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
            xref = int(data.rsplit(b"startxref", 1)[1].split()[0])
            assert data[xref:xref + 4] == b"xref"
        elif ext in ("png", "jpg"):
            width, height = struct.unpack(">II", png_chunks(data)[b"IHDR"][0][:8])
            assert (width, height) == (48, 32)
        else:
            assert str(filename).encode() in data
        kinds.add(ext)
    assert {"pdf", "png"} <= kinds


def test_onestepai_images_outline_their_faces_on_s3(tmp_path: Path, s3_server: SeaweedServer, s3_bucket: str,
                                                   s3_prefix: str) -> None:
    db = tmp_path / "platform.db"
    create_platform("onestepai", f"sqlite:///{db}", 30, progress=False)
    dataset = load_dataset(EXAMPLES / "onestepai" / "dataset.yaml")
    store = S3Store(s3_bucket, s3_prefix, endpoint_url=s3_server.endpoint)
    counts = write_blobs("onestepai", f"sqlite:///{db}", targets_for(dataset, {"media": store}))
    media = rows(db, "SELECT id, user_id FROM media")
    listed = s3_server.listing(s3_bucket, s3_prefix)
    assert len(media) > 5 and counts == {"media": len(media)}
    assert set(listed) == {f"{s3_prefix}media/{user}/{mid}.png" for mid, user in media}
    tags = rows(db, "SELECT media_id, id FROM face_tags ORDER BY id")
    client = s3_server.client()
    for mid, user in media:
        data = client.get_object(Bucket=s3_bucket, Key=f"{s3_prefix}media/{user}/{mid}.png")["Body"].read()
        text = dict(chunk.split(b"\x00", 1) for chunk in png_chunks(data)[b"tEXt"])
        notes = json.loads(text[b"Annotations"])
        assert [n["face_tag"] for n in notes] == [t for m, t in tags if m == mid]


def test_blobs_follow_the_data_map_and_leave_the_rows_alone(tmp_path: Path) -> None:
    """The rows are the same with files or without; a data map without blobs writes none."""
    plain, with_files = tmp_path / "a.db", tmp_path / "b.db"
    create_platform("omni-one", f"sqlite:///{plain}", 20, progress=False)
    create_platform("omni-one", f"sqlite:///{with_files}", 20, progress=False)
    dataset = load_dataset(EXAMPLES / "omni-one" / "dataset.yaml")
    write_blobs("omni-one", f"sqlite:///{with_files}", targets_for(dataset, {"uploads": FileStore(tmp_path / "u")}))
    assert rows(plain, "SELECT * FROM files ORDER BY id") == rows(with_files, "SELECT * FROM files ORDER BY id")
    assert targets_for(dataset, {}) == []
    with pytest.raises(KeyError):
        dataset.store("media")
