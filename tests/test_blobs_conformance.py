"""The connector conformance suite (pledge.testing.conformance), run as a third party would:
against a folder and against a real S3 server (SeaweedFS), each compared with a listing made
without the store under test (os.scandir; boto3's list_objects_v2)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pledge.blobs import FileStore
from pledge.blobs.s3 import S3Store
from pledge.plugins import FILES, S3, SQL
from pledge.testing.conformance import (
    BlobStoreConformance,
    Harness,
    Listing,
    check_delete_exact,
    check_listing,
    check_plugin,
    run_blob_conformance,
)
from tests.blob_services import SeaweedServer


def folder_listing(root: Path) -> Listing:
    """Every regular file under ``root`` whose key starts with the prefix, by os.scandir."""

    def listing(prefix: str) -> dict[str, int]:
        out: dict[str, int] = {}
        stack = [(str(root), "")]
        while stack:
            folder, base = stack.pop()
            if not os.path.isdir(folder):
                continue
            for entry in os.scandir(folder):
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, f"{base}{entry.name}/"))
                elif entry.is_file(follow_symlinks=False):
                    key = f"{base}{entry.name}"
                    if key.startswith(prefix):
                        out[key] = entry.stat().st_size
        return out

    return listing


def bucket_listing(server: SeaweedServer, bucket: str, store_prefix: str = "") -> Listing:
    """The bucket as boto3's own list_objects_v2 shows it, keys relative to the store's prefix."""

    def listing(prefix: str) -> dict[str, int]:
        return {k[len(store_prefix):]: size for k, size in server.listing(bucket, store_prefix + prefix).items()}

    return listing


class TestFolderStore(BlobStoreConformance):
    @pytest.fixture
    def blob_store(self, tmp_path: Path) -> FileStore:
        (tmp_path / "store").mkdir()
        return FileStore(tmp_path / "store")

    @pytest.fixture
    def blob_listing(self, tmp_path: Path) -> Listing:
        return folder_listing(tmp_path / "store")

    @pytest.fixture
    def broken_blob_store(self, tmp_path: Path) -> FileStore:
        return FileStore(tmp_path / "unmounted")  # a folder that is not there: nothing may pass for deleted


class TestBucketStore(BlobStoreConformance):
    @pytest.fixture
    def blob_store(self, s3_server: SeaweedServer, s3_bucket: str) -> S3Store:
        return S3Store(s3_bucket, endpoint_url=s3_server.endpoint)

    @pytest.fixture
    def blob_listing(self, s3_server: SeaweedServer, s3_bucket: str) -> Listing:
        return bucket_listing(s3_server, s3_bucket)

    @pytest.fixture
    def broken_blob_store(self, s3_server: SeaweedServer) -> S3Store:
        return S3Store("no-such-bucket-for-pledge", endpoint_url=s3_server.endpoint)


class TestBucketStoreUnderAPrefix:
    """A store that owns only ``…/tenant-7/`` of a bucket: keys, listings and deletes stay inside it."""

    @pytest.fixture
    def store(self, s3_server: SeaweedServer, s3_bucket: str, s3_prefix: str) -> S3Store:
        s3_server.client().put_object(Bucket=s3_bucket, Key=f"{s3_prefix}outside/keep-me", Body=b"not the store's")
        return S3Store(s3_bucket, f"{s3_prefix}tenant-7", endpoint_url=s3_server.endpoint)

    def test_listing_and_deletes_stay_inside(self, store: S3Store, s3_server: SeaweedServer, s3_bucket: str,
                                             s3_prefix: str) -> None:
        h = Harness(store, bucket_listing(s3_server, s3_bucket, f"{s3_prefix}tenant-7/"))
        check_listing(h)
        check_delete_exact(h)
        keys = [f"x/{i}" for i in range(3)]
        for k in keys:
            store.put(k, b"1")
        assert s3_server.listing(s3_bucket, s3_prefix) == {
            f"{s3_prefix}outside/keep-me": 15, **{f"{s3_prefix}tenant-7/{k}": 1 for k in keys}}
        assert store.delete_many(keys).gone == keys
        assert s3_server.listing(s3_bucket, s3_prefix) == {f"{s3_prefix}outside/keep-me": 15}


def test_a_store_that_deletes_nothing_fails_the_suite(tmp_path: Path) -> None:
    """The suite catches a connector that claims deletions it did not make (a real folder)."""
    (tmp_path / "s").mkdir()

    class ClaimsOnly(FileStore):
        def delete_many(self, keys):  # type: ignore[no-untyped-def]
            from pledge.blobs import DeleteResult

            return DeleteResult(gone=list(dict.fromkeys(keys)))

    failures = run_blob_conformance(ClaimsOnly(tmp_path / "s"), folder_listing(tmp_path / "s"))
    assert {"delete_exact", "many", "unusual_keys", "threads"} <= set(failures)
    assert "round_trip" not in failures


def test_a_store_that_lists_a_folder_not_a_prefix_fails_the_suite(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()

    class FolderMinded(FileStore):
        def list(self, prefix: str = ""):  # type: ignore[no-untyped-def]
            return (b for b in super().list(prefix) if "/" not in b.key[len(prefix):] or prefix.endswith("/"))

    failures = run_blob_conformance(FolderMinded(tmp_path / "s"), folder_listing(tmp_path / "s"))
    assert "listing" in failures


@pytest.mark.parametrize("plugin", [SQL, FILES, S3], ids=lambda p: p.name)
def test_the_builtin_plugins_declare_what_they_have(plugin: object, tmp_path: Path,
                                                     request: pytest.FixtureRequest) -> None:
    from pledge.plugins import ConnectorPlugin

    assert isinstance(plugin, ConnectorPlugin)
    sample: object | None = None
    if plugin.name == "files":
        sample = plugin.load()(str(tmp_path), None)
    elif plugin.name == "s3":
        sample = plugin.load()("s3://any-bucket?endpoint_url=http://127.0.0.1:9", None)
    assert check_plugin(plugin, sample) == []


def test_a_declaration_that_overclaims_is_caught(tmp_path: Path) -> None:
    from pledge.plugins import ConnectorPlugin

    overclaims = ConnectorPlugin("half", "blobs", frozenset({"find", "delete", "discover"}), ("half",),
                                 "tests.test_blobs_conformance:_half_store")
    assert check_plugin(overclaims, _half_store("", None)) == [
        "declares delete but has no delete_many", "declares discover but has no prefixes",
        "_Half is not a pledge.blobs.BlobStore"]


class _Half:
    location = "half:"

    def list(self, prefix: str = "") -> list[object]:
        return []

    def exists(self, key: str) -> bool:
        return False


def _half_store(url: str, base_dir: object) -> _Half:
    return _Half()


_: Callable[..., object] = _half_store
