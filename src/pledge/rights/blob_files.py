"""The person's files in an access or portability package: a ``files/`` folder with an index.

The files are found through the person's rows: each located row of a collection that
declares ``blobs:`` gives its key (the key template filled from the row), and the store
gives the bytes; a template ending in ``/`` gives every blob under the prefix. Nothing
else is listed, so the package holds exactly the files of the person's rows. The
package gets::

    files/<store>/<key>     each file, byte for byte
    files/index.csv         path, store, key, size, collection, row (the row's key)
    files/index.json        the same, and the rows whose file the store does not have

Files are read from 8 threads (an S3 server answers each read in milliseconds).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pledge.blobs.base import BlobNotFound
from pledge.rights.blob_erasure import BlobItem, items_for_located
from pledge.rights.export import csv_text, jsonable

if TYPE_CHECKING:
    from pledge.context import Context
    from pledge.rights.locate import Located

__all__ = ["FOLDER", "PackagedFile", "blob_package", "person_files"]

FOLDER = "files"
THREADS = 8


@dataclass(frozen=True)
class PackagedFile:
    """One of the person's files as the package holds it."""

    store: str
    key: str
    size: int
    collection: str
    row: tuple[Any, ...]
    data: bytes

    @property
    def path(self) -> str:
        return f"{FOLDER}/{self.store}/{self.key}"


def _read(engine: Context, item: BlobItem) -> list[PackagedFile] | str:
    """The item's files, or why there are none."""
    store = engine.blobs.get(item.store)
    keys = [b.key for b in store.list(item.key)] if item.is_prefix else [item.key]
    out: list[PackagedFile] = []
    for key in keys:
        try:
            data = store.get(key)
        except BlobNotFound:
            if item.is_prefix:
                continue  # deleted while we looked
            return "the store has no such file"
        out.append(PackagedFile(item.store, key, len(data), item.collection, item.row_key, data))
    return out


def person_files(engine: Context, located: Located) -> tuple[list[PackagedFile], list[dict[str, Any]]]:
    """The files of the person's located rows, in key order, and the rows whose file is missing."""
    items = items_for_located(engine, located)
    if not items:
        return [], []
    with ThreadPoolExecutor(min(THREADS, len(items))) as pool:
        results = list(pool.map(lambda i: _read(engine, i), items))
    files: dict[tuple[str, str], PackagedFile] = {}
    missing: list[dict[str, Any]] = []
    for item, got in zip(items, results, strict=True):
        if isinstance(got, str):
            missing.append({"store": item.store, "key": item.key, "collection": item.collection,
                            "row": jsonable(list(item.row_key)), "why": got})
            continue
        for f in got:
            files.setdefault((f.store, f.key), f)
    return sorted(files.values(), key=lambda f: (f.store, f.key.encode("utf-8"))), missing


def _row_text(row: tuple[Any, ...]) -> str:
    return ",".join(str(v) for v in row)


def blob_package(engine: Context, located: Located) -> dict[str, str | bytes]:
    """``files/…`` entries for a zip: each file and the index (nothing when no collection
    declares blobs or the person has none)."""
    if not engine.dataset.stores:
        return {}
    files, missing = person_files(engine, located)
    if not files and not missing:
        return {}
    index = [{"path": f.path, "store": f.store, "key": f.key, "size": f.size, "collection": f.collection,
              "row": _row_text(f.row)} for f in files]
    out: dict[str, str | bytes] = {f.path: f.data for f in files}
    out[f"{FOLDER}/index.csv"] = csv_text(index, ["path", "store", "key", "size", "collection", "row"])
    out[f"{FOLDER}/index.json"] = json.dumps(
        {"files": [{**e, "row": jsonable(list(f.row))} for e, f in zip(index, files, strict=True)],
         "missing": missing}, indent=2, ensure_ascii=False)
    return out


def files_summary(package: Mapping[str, str | bytes]) -> dict[str, int]:
    """Counts for a request's summary: files and their bytes (no names)."""
    blobs = [v for k, v in package.items() if k.startswith(f"{FOLDER}/") and k not in
             (f"{FOLDER}/index.csv", f"{FOLDER}/index.json")]
    return {"files": len(blobs), "file_bytes": sum(len(b) for b in blobs)}
