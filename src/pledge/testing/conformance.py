"""The connector conformance suite: what any blob store plugged into Pledge must do.

Pledge deletes people's files through a :class:`pledge.blobs.BlobStore` and promises it
did. A store that lists too little, deletes too much, or says "deleted" when it was not
would break that promise silently, so a connector is checked against a real server, and
every expectation comes from an *independent listing* that the connector's author writes
without the connector (``os.scandir`` for a folder, ``list_objects_v2`` with the
provider's own client for a bucket).

With pytest, subclass :class:`BlobStoreConformance` and give three fixtures::

    class TestMyStore(BlobStoreConformance):
        @pytest.fixture
        def blob_store(self): return MyStore(...)            # an empty, writable store
        @pytest.fixture
        def blob_listing(self, blob_store):                   # prefix -> {key: size}
            return lambda prefix: my_own_listing(prefix)
        @pytest.fixture
        def broken_blob_store(self): return MyStore(missing)  # optional: cannot delete

Without pytest, :func:`run_blob_conformance` runs every check and returns the failures.
:func:`check_plugin` checks a plugin's declaration (:mod:`pledge.plugins`) against what its
target really has. Each check works under a fresh random prefix and removes what it wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pledge.blobs.base import BlobError, BlobKeyError, BlobNotFound, BlobStore
from pledge.errors import Failed
from pledge.plugins import ConnectorPlugin, PluginError

__all__ = ["CHECKS", "BlobStoreConformance", "ConformanceFailure", "Harness", "Listing", "check_delete_exact",
           "check_listing", "check_plugin",
           "run_blob_conformance"]

#: An independent listing: a store-relative prefix -> {key: size} of what is really stored.
Listing = Callable[[str], dict[str, int]]
#: Keys written by the batch check: more than one DeleteObjects call (1,000 keys) and one listing page.
MANY = 1_005
#: Keys a correct store must keep apart and give back unchanged.
UNUSUAL_KEYS = ("ünïcödé/zażółć gęślą.txt", "with space/(1) [a].pdf", "plus+and&amp=;.png",
                "deep/a/b/c/d/e.txt", "dots.in.name/.hidden", "percent%20kept/x")
#: Keys every store must refuse: they could name a file outside it.
BAD_KEYS = ("", "/abs", "../up", "a/../../up", "a//b", "a/./b", "trailing/", "nul\x00byte", "back\\slash")


class ConformanceFailure(Failed, AssertionError):
    """A connector does not behave as Pledge needs."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceFailure(message)


@dataclass
class Harness:
    """A store under test, its independent listing, and optionally a store that must fail."""

    store: BlobStore
    listing: Listing
    broken: BlobStore | None = None

    def really(self, prefix: str) -> dict[str, int]:
        return dict(self.listing(prefix))

    def put_all(self, keys: list[str], data: Callable[[str], bytes]) -> None:
        """Write ``keys`` from 8 threads at once (the store must be thread-safe)."""
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda k: self.store.put(k, data(k)), keys))


@contextmanager
def scratch(h: Harness) -> Iterator[str]:
    """A fresh prefix for one check, emptied afterwards."""
    prefix = f"conformance-{uuid.uuid4().hex[:10]}/"
    try:
        yield prefix
    finally:
        leftover = list(h.really(prefix))
        if leftover:
            h.store.delete_many(leftover)


def _body(key: str) -> bytes:
    return f"blob {key}\n".encode() + bytes(range(256))


# -- the checks -----------------------------------------------------------------------------
def check_round_trip(h: Harness) -> None:
    """What is put is got back byte for byte, exists, and is listed with its size."""
    with scratch(h) as p:
        key, data = f"{p}one.bin", bytes(range(256)) * 9
        expect(not h.store.exists(key), "exists() is true for a key never written")
        h.store.put(key, data, content_type="application/octet-stream")
        expect(h.store.get(key) == data, "get() does not return the bytes put()")
        expect(h.store.exists(key), "exists() is false for a key just written")
        expect(h.really(p) == {key: len(data)}, f"the independent listing shows {h.really(p)}, not the one blob")
        listed = [(b.key, b.size) for b in h.store.list(p)]
        expect(listed == [(key, len(data))], f"list() shows {listed}")
        h.store.put(key, b"second")
        expect(h.store.get(key) == b"second", "put() over an existing key does not replace it")
        expect(h.really(p) == {key: 6}, "after an overwrite the independent listing disagrees")


def check_missing(h: Harness) -> None:
    """A missing key: get() raises BlobNotFound, exists() is false, deleting it is not a failure."""
    with scratch(h) as p:
        key = f"{p}never"
        try:
            h.store.get(key)
        except BlobNotFound:
            pass
        else:
            raise ConformanceFailure("get() of a missing key returned something")
        expect(not h.store.exists(key), "exists() is true for a missing key")
        result = h.store.delete_many([key])
        expect(result.gone == [key] and not result.failed,
               f"deleting a missing key should report it gone, got {result.as_dict()}")


def check_listing(h: Harness) -> None:
    """list(prefix) is a plain string prefix, complete, in UTF-8 key order, as really stored."""
    with scratch(h) as p:
        keys = [f"{p}a/1", f"{p}a/10", f"{p}a/2/x", f"{p}a/Z", f"{p}b/1", f"{p}a1"]
        h.put_all(keys, _body)
        for prefix in (p, f"{p}a/", f"{p}a/1", f"{p}a", f"{p}b/", f"{p}c/", f"{p}a/2/"):
            listed = [b.key for b in h.store.list(prefix)]
            really = sorted(h.really(prefix), key=lambda k: k.encode())
            expect(listed == really, f"list({prefix!r}) shows {listed}, the independent listing {really}")
            expect(all(b.size == len(_body(b.key)) for b in h.store.list(prefix)), "list() reports wrong sizes")
        expect([b.key for b in h.store.list(f"{p}a/1")] == [f"{p}a/1", f"{p}a/10"],
               "list('…a/1') must also list '…a/10' (a string prefix, not a folder)")


def check_delete_exact(h: Harness) -> None:
    """delete_many deletes exactly the keys asked for, says so key by key, and nothing else."""
    with scratch(h) as p:
        keys = [f"{p}k{i}" for i in range(6)]
        h.put_all(keys, _body)
        asked = [keys[1], keys[4], f"{p}k9"]
        result = h.store.delete_many(asked)
        expect(sorted(result.gone) == sorted(asked) and not result.failed,
               f"delete_many({asked}) reported {result.as_dict()}")
        remaining = h.really(p)
        expect(sorted(remaining) == sorted(k for k in keys if k not in asked),
               f"after deleting {asked} the store holds {sorted(remaining)}")
        expect(h.store.delete_many([]).gone == [], "delete_many([]) deleted something")


def check_many(h: Harness) -> None:
    """More than 1,000 keys: listed in full, deleted across batches, the rest untouched."""
    with scratch(h) as p:
        keys = [f"{p}many/{i:05d}" for i in range(MANY)]
        h.put_all(keys, lambda k: k.encode())
        expect(len(h.really(p)) == MANY, "the independent listing does not show every key written")
        expect(len(list(h.store.list(p))) == MANY, "list() does not page past 1,000 keys")
        doomed, kept = keys[:-2], keys[-2:]
        result = h.store.delete_many(doomed)
        expect(not result.failed, f"{len(result.failed)} deletions failed: {list(result.failed.items())[:3]}")
        expect(sorted(result.gone) == sorted(doomed), "delete_many did not report every key gone")
        expect(sorted(h.really(p)) == kept, f"after the batch delete the store holds {len(h.really(p))} keys")


def check_unusual_keys(h: Harness) -> None:
    """Keys with spaces, unicode and punctuation round-trip, list and delete as themselves."""
    with scratch(h) as p:
        keys = [p + k for k in UNUSUAL_KEYS]
        h.put_all(keys, _body)
        expect(sorted(h.really(p)) == sorted(keys), f"the store holds {sorted(h.really(p))}")
        expect(all(h.store.get(k) == _body(k) for k in keys), "an unusual key does not round-trip")
        expect(sorted(b.key for b in h.store.list(p)) == sorted(keys), "list() mangles unusual keys")
        result = h.store.delete_many(keys[:3])
        expect(sorted(result.gone) == sorted(keys[:3]) and not result.failed, f"got {result.as_dict()}")
        expect(sorted(h.really(p)) == sorted(keys[3:]), "deleting unusual keys touched others")


def check_bad_keys(h: Harness) -> None:
    """Keys that could escape the store are refused, and never reported deleted."""
    for key in BAD_KEYS:
        for call in (lambda k: h.store.put(k, b"x"), h.store.get, h.store.exists):
            try:
                call(key)
            except BlobKeyError:
                continue
            raise ConformanceFailure(f"the key {key!r} was accepted")
    result = h.store.delete_many(["../up", "/abs"])
    expect(not result.gone and sorted(result.failed) == ["../up", "/abs"],
           f"bad keys must be reported failed, got {result.as_dict()}")


def check_threads(h: Harness) -> None:
    """Concurrent deletes of disjoint sets from several threads each do their own part."""
    with scratch(h) as p:
        keys = [f"{p}t/{i:03d}" for i in range(80)]
        h.put_all(keys, _body)
        parts = [keys[i::4] for i in range(4)]
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(h.store.delete_many, parts))
        expect(all(not r.failed and sorted(r.gone) == sorted(part) for r, part in zip(results, parts, strict=True)),
               "a concurrent delete_many reported another thread's keys or failed")
        expect(h.really(p) == {}, f"{len(h.really(p))} keys survived the concurrent deletes")


def check_broken(h: Harness) -> None:
    """A store that cannot delete reports every key failed (none gone) and cannot list."""
    if h.broken is None:
        raise ConformanceFailure("no broken store given (the broken_blob_store fixture)")
    keys = ["uploads/1", "uploads/2"]
    result = h.broken.delete_many(keys)
    expect(sorted(result.failed) == keys and not result.gone,
           f"a store that cannot delete claimed {result.gone} gone")
    expect(all(reason for reason in result.failed.values()), "a failure without a reason")
    try:
        list(h.broken.list("uploads/"))
    except BlobError:
        return
    raise ConformanceFailure("listing a store that cannot be reached returned a listing instead of BlobError")


CHECKS: dict[str, Callable[[Harness], None]] = {
    "round_trip": check_round_trip, "missing": check_missing, "listing": check_listing,
    "delete_exact": check_delete_exact, "many": check_many, "unusual_keys": check_unusual_keys,
    "bad_keys": check_bad_keys, "threads": check_threads, "broken": check_broken,
}


def run_blob_conformance(store: BlobStore, listing: Listing, broken: BlobStore | None = None) -> dict[str, str]:
    """Run every check; returns check name -> what failed (empty when the store conforms).
    Without ``broken`` the check of failure reporting is left out."""
    h = Harness(store, listing, broken)
    failures: dict[str, str] = {}
    for name, check in CHECKS.items():
        if name == "broken" and broken is None:
            continue
        try:
            check(h)
        except Exception as exc:  # report every check, not only the first to fail
            failures[name] = f"{type(exc).__name__}: {exc}"
    return failures


def check_plugin(plugin: ConnectorPlugin, sample: Any = None) -> list[str]:
    """What is wrong with ``plugin``: its declaration, its target, and (given ``sample``, a
    connector or store it made) the methods each declared capability needs."""
    problems = plugin.problems()
    try:
        target = plugin.load()
    except PluginError as exc:
        return [*problems, str(exc)]
    subject = sample if sample is not None else target
    if plugin.kind == "rows" or sample is not None:
        for capability, methods in plugin.required_methods().items():
            missing = [m for m in methods if not callable(getattr(subject, m, None))]
            if missing:
                problems.append(f"declares {capability} but has no {', '.join(missing)}")
    if plugin.kind == "blobs" and sample is not None and not isinstance(sample, BlobStore):
        problems.append(f"{type(sample).__name__} is not a pledge.blobs.BlobStore")
    return problems


class BlobStoreConformance:
    """Subclass in a test module (``class TestMyStore(BlobStoreConformance)``) and give the
    fixtures ``blob_store``, ``blob_listing`` and optionally ``broken_blob_store``."""

    def _harness(self, store: BlobStore, listing: Listing, request: Any = None) -> Harness:
        broken = None
        if request is not None:
            try:
                broken = request.getfixturevalue("broken_blob_store")
            except Exception:  # the fixture is optional
                broken = None
        return Harness(store, listing, broken)

    def test_round_trip(self, blob_store: BlobStore, blob_listing: Listing) -> None:
        check_round_trip(self._harness(blob_store, blob_listing))

    def test_missing(self, blob_store: BlobStore, blob_listing: Listing) -> None:
        check_missing(self._harness(blob_store, blob_listing))

    def test_listing(self, blob_store: BlobStore, blob_listing: Listing) -> None:
        check_listing(self._harness(blob_store, blob_listing))

    def test_delete_exact(self, blob_store: BlobStore, blob_listing: Listing) -> None:
        check_delete_exact(self._harness(blob_store, blob_listing))

    def test_many(self, blob_store: BlobStore, blob_listing: Listing) -> None:
        check_many(self._harness(blob_store, blob_listing))

    def test_unusual_keys(self, blob_store: BlobStore, blob_listing: Listing) -> None:
        check_unusual_keys(self._harness(blob_store, blob_listing))

    def test_bad_keys(self, blob_store: BlobStore, blob_listing: Listing) -> None:
        check_bad_keys(self._harness(blob_store, blob_listing))

    def test_threads(self, blob_store: BlobStore, blob_listing: Listing) -> None:
        check_threads(self._harness(blob_store, blob_listing))

    def test_broken(self, blob_store: BlobStore, blob_listing: Listing, request: Any) -> None:
        h = self._harness(blob_store, blob_listing, request)
        if h.broken is None:
            import pytest

            pytest.skip("no broken_blob_store fixture: failure reporting not checked")
        check_broken(h)
