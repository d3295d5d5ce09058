"""What Pledge needs from a store of files (blobs), whatever keeps them.

A platform keeps uploads beside its rows: a folder on disk, a bucket of an S3-compatible
object store. The data map names the store and a key template filled from each row
(``uploads/{id}``); rights, retention and proofs then reach the files through a
:class:`BlobStore`, which is small on purpose:

* ``list(prefix)`` — every blob whose key starts with ``prefix`` (a plain string prefix,
  as S3 means it: ``uploads/1`` also lists ``uploads/10``), in key order, with sizes;
* ``get(key)`` / ``exists(key)`` / ``put(key, data)``;
* ``delete_many(keys)`` — delete in as few calls as the store allows and say, key by key,
  what is gone and what failed. A key reported as gone is absent afterwards (deleted now,
  or not there to begin with); a key whose deletion could not be confirmed is reported as
  failed, never as gone.

Keys are relative, ``/``-separated paths: no leading ``/``, no empty, ``.`` or ``..``
segment, no NUL, at most 1,024 bytes of UTF-8 (:func:`check_key`), so that the same key
means the same file in a folder and in a bucket, and never one outside the store.

A store is used from several threads at once (an erasure's batches, a web request), so
implementations are thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from pledge.errors import InvalidInput, NotFound, Unavailable

__all__ = ["MAX_KEY_BYTES", "BlobError", "BlobInfo", "BlobKeyError", "BlobNotFound", "BlobStore", "DeleteResult",
           "check_key", "check_prefix"]

#: The longest key S3 accepts, in bytes of UTF-8.
MAX_KEY_BYTES = 1024


class BlobError(Unavailable):
    """The store could not be reached or refused an operation (not a missing key)."""


class BlobNotFound(NotFound):
    """No blob has this key."""


class BlobKeyError(InvalidInput):
    """A key that could name a file outside the store, or that S3 would refuse."""


def check_prefix(prefix: str) -> str:
    """A listing prefix: a key's start (may be empty, may end with ``/``)."""
    if prefix == "":
        return prefix
    body = prefix[:-1] if prefix.endswith("/") else prefix
    check_key(body, what="prefix")
    return prefix


def check_key(key: str, *, what: str = "key") -> str:
    """``key`` if it is a safe relative key, else :class:`BlobKeyError` saying why."""
    if not isinstance(key, str) or not key:
        raise BlobKeyError(f"blob {what} must be non-empty text, not {key!r}")
    if "\x00" in key:
        raise BlobKeyError(f"blob {what} {key!r} holds a NUL character")
    if key.startswith("/") or key.endswith("/"):
        raise BlobKeyError(f"blob {what} {key!r} must be relative and name a file (no leading or trailing '/')")
    if "\\" in key:
        raise BlobKeyError(f"blob {what} {key!r} holds a backslash; separate folders with '/'")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise BlobKeyError(f"blob {what} {key!r} has an empty, '.' or '..' segment")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise BlobKeyError(f"blob {what} is longer than {MAX_KEY_BYTES} bytes")
    return key


@dataclass(frozen=True)
class BlobInfo:
    """One stored blob, as a listing shows it."""

    key: str
    size: int
    #: when it was last written, timezone-aware (None when the store does not say)
    modified: datetime | None = None


@dataclass
class DeleteResult:
    """What ``delete_many`` did, key by key.

    ``gone``: keys absent afterwards (deleted now, or never there). ``failed``: key -> why
    the store did not confirm the deletion. Every key asked for is in exactly one of them.
    """

    gone: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    #: calls made to the store (S3: one DeleteObjects per batch of 1,000)
    calls: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def add(self, other: DeleteResult) -> DeleteResult:
        """Fold another result (a later batch) into this one; returns self."""
        self.gone.extend(other.gone)
        self.failed.update(other.failed)
        self.calls += other.calls
        return self

    def as_dict(self) -> dict[str, object]:
        return {"gone": len(self.gone), "failed": dict(sorted(self.failed.items())), "calls": self.calls}


@runtime_checkable
class BlobStore(Protocol):
    """A place that keeps blobs by key: a folder, a bucket (see the module's notes)."""

    #: where it is, for people and logs (never a secret): ``file:/srv/uploads``, ``s3://bucket/prefix``
    @property
    def location(self) -> str: ...

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Every blob whose key starts with ``prefix``, in key order (UTF-8 bytes)."""
        ...

    def get(self, key: str) -> bytes:
        """The blob's bytes; :class:`BlobNotFound` when there is none."""
        ...

    def exists(self, key: str) -> bool:
        """Whether a blob has exactly this key."""
        ...

    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        """Write (or replace) a blob, whole: a reader never sees half of it."""
        ...

    def delete_many(self, keys: Iterable[str]) -> DeleteResult:
        """Delete these keys; every key ends up in ``gone`` or ``failed`` of the result."""
        ...
