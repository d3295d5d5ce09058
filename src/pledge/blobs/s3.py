"""Blobs in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO, Ceph…), through boto3.

Why boto3 and not aiobotocore: Pledge's data plane is synchronous (SQLAlchemy, worker
threads, Celery tasks), and a boto3 *client* is thread-safe once made, so one client per
store serves every thread; aiobotocore would need an event loop per caller and pins
botocore to narrow ranges that would hold the lock file back. boto3 is the ``s3`` extra.

Deletes go in batches of :data:`DELETE_BATCH` (1,000, the most one ``DeleteObjects`` call
takes) in verbose mode, and a key counts as gone only when the response lists it under
``Deleted``: a key under ``Errors``, absent from both lists, or in a batch whose call
failed is reported as failed with the reason. S3 reports a key that was never there as
deleted, which is what "gone" means. A missing bucket fails every key: an erasure must not
pass for done against a mistyped bucket.

Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
a profile, an instance role), the endpoint from ``endpoint_url`` or ``AWS_ENDPOINT_URL``;
a store URL never holds a secret (``s3://bucket/prefix?endpoint_url=…&region=…``).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator
from typing import Any

from pledge.blobs.base import (
    BlobError,
    BlobInfo,
    BlobKeyError,
    BlobNotFound,
    DeleteResult,
    check_key,
    check_prefix,
)
from pledge.extras import MissingExtra, missing_extra

__all__ = ["DELETE_BATCH", "S3Store", "s3_client"]

#: Keys per DeleteObjects call: the most S3 accepts.
DELETE_BATCH = 1000
#: Statuses and codes that mean "no such object".
_MISSING = {"404", "NoSuchKey", "NotFound"}


def _boto3() -> Any:
    try:
        import boto3
    except ModuleNotFoundError as exc:
        better = missing_extra(exc, "a blob store on S3")
        raise (better or MissingExtra("boto3", "s3", "a blob store on S3")) from exc
    return boto3


def s3_client(*, endpoint_url: str | None = None, region: str | None = None,
              access_key: str | None = None, secret_key: str | None = None,
              connect_timeout: float = 5.0, read_timeout: float = 30.0, max_attempts: int = 3) -> Any:
    """A boto3 S3 client made from its own session (sessions are not thread-safe; the client is).

    Path-style addressing when an endpoint is given (S3-compatible servers on one host);
    standard retries with ``max_attempts``; credentials from the arguments or boto3's chain."""
    boto3 = _boto3()
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                    region_name=region or None)
    config = Config(connect_timeout=connect_timeout, read_timeout=read_timeout,
                    retries={"max_attempts": max_attempts, "mode": "standard"},
                    s3={"addressing_style": "path"} if endpoint_url else None,
                    max_pool_connections=32)
    return session.client("s3", endpoint_url=endpoint_url or None, config=config,
                          region_name=region or "us-east-1")


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error") or {}
    return str(error.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")


def _message(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error") or {}
    code, text = error.get("Code"), error.get("Message")
    if code or text:
        return f"{code or 'error'}: {text or ''}".strip().rstrip(":")
    return f"{type(exc).__name__}: {exc}"


class S3Store:
    """Blobs under ``prefix`` in one bucket. ``client``: a boto3 S3 client (made from the
    other arguments by :func:`s3_client` when not given)."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None, endpoint_url: str | None = None,
                 region: str | None = None) -> None:
        if not bucket or "/" in bucket:
            raise BlobError(f"an S3 bucket name is required, without '/': {bucket!r}")
        if prefix:
            check_prefix(prefix)
            prefix = prefix if prefix.endswith("/") else f"{prefix}/"
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.client = client if client is not None else s3_client(endpoint_url=endpoint_url, region=region)
        self._errors = _boto3_errors()

    @property
    def location(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}"
        return f"{where} at {self.endpoint_url}" if self.endpoint_url else where

    def __repr__(self) -> str:
        return f"S3Store({self.bucket!r}, {self.prefix!r})"

    def _full(self, key: str) -> str:
        return self.prefix + check_key(key)

    # -- read -----------------------------------------------------------------------------
    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        check_prefix(prefix)
        return self._pages(self.prefix + prefix)

    def _pages(self, full_prefix: str) -> Iterator[BlobInfo]:
        cut = len(self.prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
                for obj in page.get("Contents", ()):
                    key = obj["Key"]
                    if key.endswith("/") and obj.get("Size", 0) == 0:
                        continue  # a folder marker some tools write, not a blob
                    yield BlobInfo(key[cut:], int(obj.get("Size", 0)), obj.get("LastModified"))
        except self._errors as exc:
            raise BlobError(f"cannot list {self.location}: {_message(exc)}") from exc

    def prefixes(self, prefix: str = "") -> builtins.list[str]:
        """The "folders" directly under ``prefix`` (common prefixes up to the next ``/``)."""
        check_prefix(prefix)
        cut = len(self.prefix)
        found: builtins.list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix, Delimiter="/"):
                found.extend(p["Prefix"][cut:] for p in page.get("CommonPrefixes", ()))
        except self._errors as exc:
            raise BlobError(f"cannot list {self.location}: {_message(exc)}") from exc
        return sorted(found, key=lambda p: p.encode("utf-8"))

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
            body: bytes = response["Body"].read()
            return body
        except self._errors as exc:
            if _code(exc) in _MISSING:
                raise BlobNotFound(f"no blob {key!r} in {self.location}") from None
            raise BlobError(f"cannot read blob {key!r} in {self.location}: {_message(exc)}") from exc

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._full(key))
            return True
        except self._errors as exc:
            if _code(exc) in _MISSING:
                return False
            raise BlobError(f"cannot look up blob {key!r} in {self.location}: {_message(exc)}") from exc

    # -- write ----------------------------------------------------------------------------
    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=bytes(data), **extra)
        except self._errors as exc:
            raise BlobError(f"cannot write blob {key!r} in {self.location}: {_message(exc)}") from exc

    def delete_many(self, keys: Iterable[str]) -> DeleteResult:
        result = DeleteResult()
        batch: builtins.list[str] = []
        for key in dict.fromkeys(keys):
            try:
                check_key(key)
            except BlobKeyError as exc:
                result.failed[key] = str(exc)
                continue
            batch.append(key)
            if len(batch) == DELETE_BATCH:
                result.add(self._delete_batch(batch))
                batch = []
        if batch:
            result.add(self._delete_batch(batch))
        return result

    def _delete_batch(self, keys: builtins.list[str]) -> DeleteResult:
        result = DeleteResult(calls=1)
        full = {self.prefix + k: k for k in keys}
        try:
            response = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": f} for f in full], "Quiet": False})
        except self._errors as exc:
            reason = _message(exc)
            result.failed.update(dict.fromkeys(keys, reason))
            return result
        confirmed = {d.get("Key") for d in response.get("Deleted", ())}
        refused = {e.get("Key"): f"{e.get('Code') or 'error'}: {e.get('Message') or ''}".strip().rstrip(":")
                   for e in response.get("Errors", ())}
        for f, key in full.items():
            if f in refused:
                result.failed[key] = refused[f]
            elif f in confirmed:
                result.gone.append(key)
            else:
                result.failed[key] = "the store did not confirm the deletion"
        return result


def _boto3_errors() -> tuple[type[Exception], ...]:
    """What a boto3 call raises when the service refuses or cannot be reached."""
    _boto3()
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)
