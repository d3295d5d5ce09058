"""Real files for the example platforms: the uploads their rows describe.

omni-one's ``files`` rows get small real documents (a one-page PDF, a PNG, or text, by the
row's file extension); onestepai's ``media`` rows get PNG images with a box drawn round each
face tagged in them and the boxes written into the image as an ``Annotations`` text chunk
(the face tag ids, never a name). Every blob is made from its row alone, so the same rows
give the same bytes on every backend and in every store.

Where they go is the data map's business: :func:`targets_for` reads each collection's
``blobs:`` (a store and a key template) and :func:`write_blobs` fills them from the rows
already in the database, after the generator has run, so the rows are the same with or
without files. Blobs are written from 8 threads (an S3 server answers each write in a few
milliseconds; one at a time a large platform would take minutes).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from pledge.blobs.base import BlobStore
from pledge.datamap.blobs import KeyTemplate
from pledge.datamap.model import Dataset
from pledge.platforms.bulk import PlatformError, open_engine

__all__ = ["BlobTarget", "pdf_document", "png_image", "targets_for", "write_blobs"]

#: Rows read (and blobs written) per batch.
BATCH = 2_000
THREADS = 8


@dataclass(frozen=True)
class BlobTarget:
    """One collection's blobs: where they go and how each row's key is made."""

    table: str
    template: KeyTemplate
    store: BlobStore
    store_name: str = ""


def targets_for(dataset: Dataset, stores: Mapping[str, BlobStore], database: str = "main") -> list[BlobTarget]:
    """The data map's blob declarations on ``database``, with their opened stores."""
    return [BlobTarget(coll.name, link.template, stores[link.store], link.store)
            for db, coll, link in dataset.blob_links() if db.name == database and link.store in stores]


# -- file formats ---------------------------------------------------------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_image(width: int, height: int, background: tuple[int, int, int],
              boxes: Sequence[tuple[int, int, int, int, tuple[int, int, int]]] = (),
              text: Mapping[str, str] | None = None) -> bytes:
    """An RGB PNG: a plain background, rectangle outlines ``(x, y, w, h, colour)``, and
    ``tEXt`` chunks (keyword -> Latin-1 text)."""
    pixels = [bytearray(bytes(background) * width) for _ in range(height)]

    def dot(x: int, y: int, colour: tuple[int, int, int]) -> None:
        if 0 <= x < width and 0 <= y < height:
            pixels[y][x * 3:x * 3 + 3] = bytes(colour)

    for x, y, w, h, colour in boxes:
        for i in range(w):
            dot(x + i, y, colour)
            dot(x + i, y + h - 1, colour)
        for j in range(h):
            dot(x, y + j, colour)
            dot(x + w - 1, y + j, colour)
    raw = b"".join(b"\x00" + bytes(row) for row in pixels)
    chunks = [_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))]
    for keyword, value in (text or {}).items():
        chunks.append(_chunk(b"tEXt", keyword.encode("latin-1") + b"\x00" + value.encode("latin-1", "replace")))
    chunks.append(_chunk(b"IDAT", zlib.compress(raw, 6)))
    chunks.append(_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def pdf_document(title: str, lines: Sequence[str]) -> bytes:
    """A one-page PDF 1.4 that prints ``title`` and ``lines`` in Helvetica (byte offsets
    in its cross-reference table are exact, so readers open it without repair)."""

    def escape(text: str) -> str:
        safe = text.encode("latin-1", "replace").decode("latin-1")
        return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 14 Tf", "56 780 Td", f"({escape(title)}) Tj", "/F1 10 Tf"]
    for line in lines:
        ops += ["0 -16 Td", f"({escape(line)}) Tj"]
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


# -- what each platform's files hold --------------------------------------------------------
Maker = Callable[[Mapping[str, Any], Sequence[Mapping[str, Any]]], tuple[bytes, str]]


def _omni_file(row: Mapping[str, Any], _extra: Sequence[Mapping[str, Any]]) -> tuple[bytes, str]:
    name = str(row.get("filename") or f"file-{row['id']}")
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext == "pdf":
        return pdf_document(name, [f"omni-one upload #{row['id']}", "A brief for the project.",
                                   f"Declared size: {row.get('size')} bytes"]), "application/pdf"
    if ext in ("png", "jpg"):
        seed = int(row["id"])
        colour = (40 + seed * 37 % 180, 60 + seed * 53 % 160, 80 + seed * 71 % 150)
        return png_image(48, 32, colour, [(4, 4, 40, 24, (255, 255, 255))],
                         {"Title": name}), "image/png"
    body = f"{name}\nomni-one upload #{row['id']}\nNotes kept in a conversation or project.\n"
    return body.encode(), "text/plain; charset=utf-8"


def _face_box(tag_id: int, n: int) -> tuple[int, int, int, int]:
    return 6 + (n * 30) % 84, 8 + (tag_id * 7) % 24, 22, 26


def _onestepai_media(row: Mapping[str, Any], tags: Sequence[Mapping[str, Any]]) -> tuple[bytes, str]:
    seed = int(row["id"])
    background = (90 + seed * 29 % 120, 100 + seed * 41 % 110, 110 + seed * 13 % 100)
    boxes = [(*_face_box(int(t["id"]), n), (255, 220, 0)) for n, t in enumerate(tags)]
    notes = [{"face_tag": int(t["id"]), "box": list(_face_box(int(t["id"]), n))} for n, t in enumerate(tags)]
    return png_image(120, 64, background, boxes,
                     {"Title": str(row.get("filename") or ""), "Annotations": json.dumps(notes)}), "image/png"


#: (platform, table) -> how a row's blob is made, and the child table holding its annotations
MAKERS: dict[tuple[str, str], tuple[Maker, str | None]] = {
    ("omni-one", "files"): (_omni_file, None),
    ("onestepai", "media"): (_onestepai_media, "face_tags"),
}


def _generic(row: Mapping[str, Any], _extra: Sequence[Mapping[str, Any]]) -> tuple[bytes, str]:
    return json.dumps({k: str(v) for k, v in row.items()}, sort_keys=True).encode(), "application/json"


# -- writing --------------------------------------------------------------------------------
def write_blobs(platform: str, url: str, targets: Sequence[BlobTarget]) -> dict[str, int]:
    """Write the blob of every row of each target's table; returns blobs written per table.
    A row whose key cannot be made (an empty field) gets none."""
    from pledge.platforms import get_platform

    meta = get_platform(platform).metadata
    counts: dict[str, int] = {}
    engine = open_engine(url)
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            for target in targets:
                if target.table not in meta.tables:
                    raise PlatformError(f"{platform} has no table {target.table!r} (the data map's blobs name it)")
                maker, child = MAKERS.get((get_platform(platform).name, target.table), (_generic, None))
                written = 0
                for batch in _rows(engine, meta, target.table, child):
                    jobs = []
                    for row, extra in batch:
                        key = target.template.render(row).key
                        if key is None:
                            continue
                        if target.template.is_prefix:
                            key = f"{key}original"
                        data, content_type = maker(row, extra)
                        jobs.append(pool.submit(target.store.put, key, data, content_type=content_type))
                    for job in jobs:
                        job.result()
                    written += len(jobs)
                counts[target.table] = counts.get(target.table, 0) + written
    finally:
        engine.dispose()
    return counts


def _rows(engine: Any, meta: Any, table: str,
          child: str | None) -> Iterator[list[tuple[dict[str, Any], list[dict[str, Any]]]]]:
    """Batches of (row, its child rows) in key order."""
    t = meta.tables[table]
    c = meta.tables[child] if child else None
    with engine.connect() as conn:
        last: Any = None
        while True:
            q = select(t).order_by(t.c.id).limit(BATCH)
            if last is not None:
                q = q.where(t.c.id > last)
            rows = [dict(r._mapping) for r in conn.execute(q)]
            if not rows:
                return
            last = rows[-1]["id"]
            extras: dict[Any, list[dict[str, Any]]] = {}
            if c is not None:
                ids = [r["id"] for r in rows]
                fk = next(col for col in c.columns if col.foreign_keys
                          and any(f.column.table.name == table for f in col.foreign_keys))
                for r in conn.execute(select(c).where(fk.in_(ids)).order_by(c.c.id)):
                    m = dict(r._mapping)
                    extras.setdefault(m[fk.name], []).append(m)
            yield [(r, extras.get(r["id"], [])) for r in rows]
