"""The application's blob stores: the data map's ``stores:``, opened on first use.

The composition root (:mod:`pledge.engine`) builds one :class:`BlobStores` from the data map
and the folder its relative store paths resolve against; the rights engine, retention and
the proofs reach files through it (``engine.blobs``). A store is opened once, by the plugin
that declares its URL's scheme (:func:`pledge.blobs.open_store`), and shared by every thread.
``PLEDGE_BLOBS_<NAME>`` moves one store for a deployment (:mod:`pledge.datamap.blobs`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pledge.blobs.base import BlobStore
from pledge.datamap.blobs import KeyTemplate, resolve_store_url

if TYPE_CHECKING:
    from pledge.datamap.model import Dataset

__all__ = ["BlobCollection", "BlobStores", "Opener"]

#: Opens a store URL (relative folders against the second argument).
Opener = Callable[[str, "Path | None"], BlobStore]


@dataclass(frozen=True)
class BlobCollection:
    """One ``blobs:`` declaration: the collection (``db.collection``), its store and template."""

    collection: str
    store: str
    template: KeyTemplate


class BlobStores:
    """The data map's stores by name (opened lazily, thread-safe) and its ``blobs:`` links."""

    def __init__(self, dataset: Dataset, base_dir: Path | None, *, opener: Opener | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        from pledge.blobs import open_store

        self.dataset = dataset
        self.base_dir = base_dir
        self._open: Opener = opener or open_store
        self._env = env
        self._opened: dict[str, BlobStore] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return [s.name for s in self.dataset.stores]

    def __bool__(self) -> bool:
        return bool(self.dataset.stores)

    def url(self, name: str) -> str:
        """The URL the store is opened at (the override or ``$env:`` resolved)."""
        return resolve_store_url(name, self.dataset.store(name).url, env=self._env)

    def get(self, name: str) -> BlobStore:
        """The opened store (KeyError for a name the data map does not declare)."""
        with self._lock:
            store = self._opened.get(name)
            if store is None:
                store = self._open(self.url(name), self.base_dir)
                self._opened[name] = store
            return store

    def __getitem__(self, name: str) -> BlobStore:
        return self.get(name)

    def collections(self) -> list[BlobCollection]:
        """Every collection's blobs (``db.collection``, store, template), in file order."""
        return [BlobCollection(f"{db.name}.{coll.name}", link.store, link.template)
                for db, coll, link in self.dataset.blob_links()]

    def for_collection(self, collection: str) -> list[BlobCollection]:
        return [b for b in self.collections() if b.collection == collection]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
