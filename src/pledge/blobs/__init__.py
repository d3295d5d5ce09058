"""Files beside the rows: blob stores (a folder, an S3 bucket) and how to open them.

:func:`open_store` turns a store URL into a :class:`BlobStore` through the connector
plugin registered for its scheme (:mod:`pledge.plugins`): ``file:`` paths and bare paths
open a :class:`~pledge.blobs.files.FileStore`, ``s3://bucket/prefix`` an
:class:`~pledge.blobs.s3.S3Store` (the ``s3`` extra), another scheme whatever plugin
declares it.
"""

from __future__ import annotations

from pathlib import Path

from pledge.blobs.base import (
    BlobError,
    BlobInfo,
    BlobKeyError,
    BlobNotFound,
    BlobStore,
    DeleteResult,
    check_key,
    check_prefix,
)
from pledge.blobs.files import FileStore
from pledge.blobs.urls import BlobUrlError, scheme_of

__all__ = ["BlobError", "BlobInfo", "BlobKeyError", "BlobNotFound", "BlobStore", "BlobUrlError", "DeleteResult",
           "FileStore", "check_key", "check_prefix", "open_store", "scheme_of"]


def open_store(url: str, base_dir: Path | None = None) -> BlobStore:
    """The blob store at ``url`` (relative folders resolve against ``base_dir``, else the
    working directory), opened by the plugin that declares the URL's scheme."""
    from pledge.plugins import PluginError, plugin_for_scheme

    plugin = plugin_for_scheme(scheme_of(url), "blobs")
    store = plugin.load()(url, base_dir)
    if not isinstance(store, BlobStore):
        raise PluginError(f"connector plugin {plugin.name!r} opened {type(store).__name__} for {scheme_of(url)}: "
                          "URLs, which is not a pledge.blobs.BlobStore")
    return store
