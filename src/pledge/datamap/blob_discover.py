"""The data map's files against the live stores: reachable stores, and undeclared places.

``datamap check`` asks :func:`check_stores` whether every store can be listed (a mistyped
folder or bucket, missing credentials, a server that is down are errors: an erasure would
fail there). ``datamap discover`` asks :func:`undeclared_places` for what the stores hold
that no collection's ``blobs:`` declares:

* a top-level folder (prefix) of a store, or a file at its top, that no key template of
  that store can produce (``avatars/`` beside the declared ``uploads/{id}``);
* a store that no collection uses;
* on an S3 server, a bucket beside the declared ones that no store names.

A template's fixed beginning (``media/`` in ``media/{user_id}/{id}.png``) is what is
compared; a template that starts with a placeholder (``{user_id}/...``) claims the whole
store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pledge.blobs.base import BlobError, BlobStore
from pledge.datamap.check import Finding
from pledge.datamap.model import Dataset
from pledge.errors import PledgeError

__all__ = ["Undeclared", "check_stores", "template_heads", "undeclared_places"]

StoreOpener = Callable[[str], BlobStore]


@dataclass(frozen=True)
class Undeclared:
    """A place holding files that the data map does not account for."""

    kind: str  # prefix | file | store | bucket
    store: str
    where: str
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "store": self.store, "where": self.where, "detail": self.detail}


def template_heads(dataset: Dataset) -> dict[str, list[str]]:
    """Per store, the fixed beginning of each key template declared on it."""
    out: dict[str, list[str]] = {s.name: [] for s in dataset.stores}
    for _, _, link in dataset.blob_links():
        out.setdefault(link.store, []).append(link.template.pieces[0])
    return out


def _claimed(place: str, heads: list[str]) -> bool:
    return any(h == "" or place.startswith(h) or h.startswith(place) for h in heads)


def check_stores(dataset: Dataset, open_store: StoreOpener) -> list[Finding]:
    """An error per store that cannot be opened or listed."""
    out: list[Finding] = []
    for s in dataset.stores:
        try:
            store = open_store(s.name)
            next(iter(store.list("")), None)
        except (BlobError, PledgeError, OSError) as exc:
            out.append(Finding("store-unreachable", "error", f"stores.{s.name}",
                               f"cannot list the blob store {s.name!r}: {exc}. Erasure and access need it; "
                               "check the URL (or PLEDGE_BLOBS_" + s.name.upper() + ") and credentials"))
    return out


def undeclared_places(dataset: Dataset, open_store: StoreOpener) -> list[Undeclared]:
    """What the stores hold that no collection declares (see the module's notes)."""
    heads = template_heads(dataset)
    out: list[Undeclared] = []
    buckets: dict[str, tuple[Any, set[str]]] = {}
    for s in dataset.stores:
        if not heads.get(s.name):
            out.append(Undeclared("store", s.name, s.name, "no collection's blobs: names this store"))
        store = open_store(s.name)
        prefixes = getattr(store, "prefixes", None)
        if callable(prefixes):
            for prefix in prefixes(""):
                if not _claimed(prefix, heads.get(s.name, [])):
                    out.append(Undeclared("prefix", s.name, prefix, f"in {store.location}"))
        for blob in store.list(""):
            if "/" in blob.key:
                continue
            if not _claimed(blob.key, heads.get(s.name, [])):
                out.append(Undeclared("file", s.name, blob.key, f"in {store.location}"))
        client, bucket = getattr(store, "client", None), getattr(store, "bucket", None)
        if client is not None and bucket:
            endpoint = str(getattr(store, "endpoint_url", "") or "")
            buckets.setdefault(endpoint, (client, set()))[1].add(str(bucket))
    for endpoint, (client, named) in buckets.items():
        try:
            listed = [b["Name"] for b in client.list_buckets().get("Buckets", ())]
        except Exception as exc:  # noqa: BLE001 - listing buckets may be refused; say so, do not fail
            out.append(Undeclared("bucket", "", "?", f"cannot list buckets at {endpoint or 'AWS'}: {exc}"))
            continue
        out.extend(Undeclared("bucket", "", name, f"at {endpoint or 'AWS'}: no store names it")
                   for name in sorted(set(listed) - named))
    return out
