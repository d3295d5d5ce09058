"""Blob store URLs, as the data map writes them, to stores.

=====================================================  =====================================
URL                                                    store
=====================================================  =====================================
``blobs/uploads``, ``file:blobs/uploads``              a folder, relative to ``base_dir``
``file:///srv/uploads``, ``/srv/uploads``              a folder, absolute
``s3://bucket``, ``s3://bucket/prefix``                a bucket (and a prefix in it)
``s3://bucket?endpoint_url=http://127.0.0.1:8333``     …on an S3-compatible server
=====================================================  =====================================

An S3 URL takes ``endpoint_url`` and ``region`` as query parameters and nothing secret:
credentials come from boto3's chain (``AWS_ACCESS_KEY_ID``…), and a URL with a user or a
password in it is refused, so that it can be shown and logged.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from pledge.blobs.base import BlobKeyError, BlobStore
from pledge.blobs.files import FileStore
from pledge.errors import InvalidInput

__all__ = ["BlobUrlError", "open_file_store", "open_s3_store", "scheme_of"]

S3_OPTIONS = ("endpoint_url", "region")


class BlobUrlError(InvalidInput):
    """A blob store URL Pledge cannot open."""


def scheme_of(url: str) -> str:
    """``file`` or ``s3`` (or another plugin's scheme); a bare path is ``file``."""
    head, sep, _ = url.partition(":")
    if sep and head.isidentifier() and len(head) > 1:
        return head.lower()
    return "file"


def open_file_store(url: str, base_dir: Path | None = None) -> BlobStore:
    """A :class:`~pledge.blobs.files.FileStore` for ``file:PATH``, ``file:///PATH`` or a bare path."""
    path = url
    if scheme_of(url) == "file" and url.lower().startswith("file:"):
        rest = url[len("file:"):]
        if rest.startswith("//"):
            parts = urlsplit(url)
            if parts.netloc not in ("", "localhost"):
                raise BlobUrlError(f"blob store URL {url!r}: a file URL names no host (file:///path)")
            rest = unquote(parts.path)
        path = rest
    if not path.strip():
        raise BlobUrlError(f"blob store URL {url!r} names no folder")
    folder = Path(path).expanduser()
    if not folder.is_absolute():
        folder = (base_dir or Path.cwd()) / folder
    return FileStore(folder)


def open_s3_store(url: str, base_dir: Path | None = None) -> BlobStore:
    """An :class:`~pledge.blobs.s3.S3Store` for ``s3://bucket[/prefix][?endpoint_url=…&region=…]``."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "s3" or not parts.hostname:
        raise BlobUrlError(f"blob store URL {url!r} must be s3://bucket[/prefix]")
    if parts.username or parts.password:
        raise BlobUrlError(f"blob store URL s3://…@{parts.hostname}: put no credentials in a URL; "
                           "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile) instead")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - set(S3_OPTIONS))
    if unknown:
        raise BlobUrlError(f"blob store URL {url!r}: unknown option(s) {', '.join(unknown)}; "
                           f"known: {', '.join(S3_OPTIONS)}")
    prefix = unquote(parts.path).strip("/")
    options = {k: v[-1] for k, v in query.items() if v and v[-1]}
    from pledge.blobs.s3 import S3Store

    try:
        return S3Store(parts.hostname, prefix, endpoint_url=options.get("endpoint_url"),
                       region=options.get("region"))
    except BlobKeyError as exc:
        raise BlobUrlError(f"blob store URL {url!r}: {exc}") from exc
