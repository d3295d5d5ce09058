"""Files left behind: what ``pledge prove`` checks in the blob stores (#16).

Two checks, each reading the stores and the platform's database, never trusting a report:

* :func:`erased_blobs_remaining` — files whose deletion the store once confirmed for an
  erasure (``gone`` intents of ``blob_deletions``) and that are there again: a bucket
  restored from a backup, a replica that lagged. The table keeps a keyed hash of each
  deleted key, not the key, so every listed key is hashed and compared.
* :func:`orphan_blobs` — files under a collection's key template whose row does not exist
  (the key is parsed back into the template's fields, the row read by its key): the files
  of rows deleted without Pledge, or of an erasure that did not reach them.

Both return :class:`Orphan` entries (store, key, why) and read each store once.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from pledge.blobs import BlobError
from pledge.datamap.blobs import KeyTemplate
from pledge.rights.blob_erasure import BATCH, key_hash
from pledge.store.tables.blobs import blob_deletions

if TYPE_CHECKING:
    from pledge.context import Context

__all__ = ["Orphan", "blob_findings", "erased_blobs_remaining", "orphan_blobs", "template_pattern"]


@dataclass(frozen=True)
class Orphan:
    store: str
    key: str
    collection: str
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {"store": self.store, "key": self.key, "collection": self.collection, "why": self.why}


def template_pattern(template: KeyTemplate) -> re.Pattern[str]:
    """A regular expression that matches the template's keys, a group per placeholder."""
    parts: list[str] = []
    for i, piece in enumerate(template.pieces):
        parts.append(re.escape(piece) if i % 2 == 0 else f"(?P<f{i // 2}>[^/]+)")
    return re.compile("".join(parts) + (".*" if template.is_prefix else "") + r"\Z")


def erased_blobs_remaining(engine: Context, stores: Iterable[str] | None = None) -> list[Orphan]:
    """Files a store once confirmed deleted for an erasure that are there again."""
    names = list(stores) if stores is not None else engine.blobs.names()
    out: list[Orphan] = []
    with engine.store.connect() as conn:
        rows = conn.execute(select(blob_deletions.c.store, blob_deletions.c.key_hash, blob_deletions.c.reference,
                                   blob_deletions.c.collection)
                            .where(blob_deletions.c.status == "gone", blob_deletions.c.store.in_(names))).all()
    gone: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    for store, digest, reference, collection in rows:
        gone[store][digest] = (reference, collection)
    for name in names:
        if not gone.get(name):
            continue
        for blob in engine.blobs.get(name).list(""):
            hit = gone[name].get(key_hash(engine, name, blob.key))
            if hit is not None:
                out.append(Orphan(name, blob.key, hit[1], f"deleted for {hit[0]}, and there again"))
    return out


def orphan_blobs(engine: Context) -> list[Orphan]:
    """Files matching a collection's key template whose row does not exist."""
    out: list[Orphan] = []
    for link in engine.blobs.collections():
        database, name = link.collection.split(".", 1)
        connector = engine.connectors.get(database)
        pk = connector.row_key(name)
        fields = link.template.fields
        if not set(pk) <= set(fields):
            continue  # the key does not hold the row key: rows cannot be read back from it
        pattern = template_pattern(link.template)
        head = link.template.pieces[0]
        found: list[tuple[str, dict[str, str]]] = []
        for blob in engine.blobs.get(link.store).list(head):
            m = pattern.match(blob.key)
            if m is not None:
                values = {link.template.pieces[2 * i + 1].rsplit(".", 1)[-1]: v for i, v in
                          enumerate(m.groups())}
                found.append((blob.key, values))
        for start in range(0, len(found), BATCH):
            chunk = found[start:start + BATCH]
            coerced = {c: connector.coerce(name, c, [v[c] for _, v in chunk]) for c in fields}
            keys = [tuple(coerced[c][i] for c in pk) for i in range(len(chunk))]
            with connector.begin() as conn:
                rows = {tuple(r[c] for c in pk): r for r in connector.fetch(conn, name, keys, columns=list(fields))}
            for i, (key, _) in enumerate(chunk):
                row = rows.get(keys[i])
                if row is None:
                    out.append(Orphan(link.store, key, link.collection, "its row does not exist"))
                elif link.template.render(row).key not in (key, None) and not link.template.is_prefix:
                    out.append(Orphan(link.store, key, link.collection, "its row names another key"))
    return out


def blob_findings(engine: Context, now: Any = None) -> list[Any]:
    """``pledge prove``'s finding: no file of an erased person is back, and no file has lost
    its row. Examples name the store and collection only (a key can hold a person's id)."""
    from pledge.prove.findings import Finding

    if not engine.dataset.stores:
        return []
    title = "No file of an erased person, and no file without its row, remains in the blob stores"
    try:
        back = erased_blobs_remaining(engine)
        lost = orphan_blobs(engine)
    except BlobError as exc:  # a store that cannot be listed proves nothing either way
        return [Finding(id="blobs:erased", kind="erasure", status="unknown", title=title,
                        reason="store_unreachable", error=str(exc), detail={"stores": engine.blobs.names()})]
    where = sorted({f"{o.store}:{o.collection}" for o in [*back, *lost]})
    return [Finding(id="blobs:erased", kind="erasure", status="broken" if back or lost else "kept",
                    title=title,
                    count=len(back) + len(lost), examples=where[:5],
                    detail={"erased_back": len(back), "without_row": len(lost), "stores": engine.blobs.names()})]
