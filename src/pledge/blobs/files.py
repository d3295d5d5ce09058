"""Blobs in a folder: the embedded default, so the demo needs no service.

A key is a path under the store's root (``uploads/7`` is ``ROOT/uploads/7``). A write goes
to a temporary file beside its target and is renamed over it (``os.replace``), so a reader
sees the old blob or the new one, never half; temporary names start with
:data:`TEMP_PREFIX` and are never listed (a key may not end in such a name). Deleting the
last blob of a folder removes the emptied folders up to the root.

A missing root is not "nothing to delete": an unmounted volume or a mistyped path would
otherwise report every file as erased. ``delete_many`` reports every key as failed when the
root is not a folder; a listing of it raises :class:`~pledge.blobs.base.BlobError`.
"""

from __future__ import annotations

import builtins
import os
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from pledge.blobs.base import (
    BlobError,
    BlobInfo,
    BlobKeyError,
    BlobNotFound,
    DeleteResult,
    check_key,
    check_prefix,
)

__all__ = ["TEMP_PREFIX", "FileStore"]

#: Names of files being written (renamed over their target when complete).
TEMP_PREFIX = ".pledge-tmp-"


class FileStore:
    """Blobs as files under ``root`` (created on the first write)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().absolute()

    @property
    def location(self) -> str:
        return f"file:{self.root}"

    def __repr__(self) -> str:
        return f"FileStore({str(self.root)!r})"

    # -- paths ----------------------------------------------------------------------------
    def path_of(self, key: str) -> Path:
        """The file that holds ``key`` (the key checked first)."""
        check_key(key)
        parts = key.split("/")
        if parts[-1].startswith(TEMP_PREFIX):
            raise BlobKeyError(f"blob key {key!r}: names starting with {TEMP_PREFIX!r} are the store's own")
        return self.root.joinpath(*parts)

    def _inside(self, path: Path) -> bool:
        """Whether ``path``'s folder, symbolic links followed, is still under the root."""
        root = os.path.realpath(self.root)
        parent = os.path.realpath(path.parent)
        return parent == root or parent.startswith(root + os.sep)

    def _root_ready(self) -> str | None:
        """Why the root cannot be used, or None."""
        if not self.root.exists():
            return f"the store's folder {self.root} does not exist"
        if not self.root.is_dir():
            return f"the store's root {self.root} is not a folder"
        return None

    # -- read -----------------------------------------------------------------------------
    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        check_prefix(prefix)
        problem = self._root_ready()
        if problem is not None:
            raise BlobError(problem)
        folder, _, rest = prefix.rpartition("/")
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        base = f"{folder}/" if folder else ""
        found: builtins.list[BlobInfo] = []
        if start.is_dir() and self._inside(start / "x"):
            found.extend(self._scan(start, base, rest))
        found.sort(key=lambda info: info.key.encode("utf-8"))
        return iter(found)

    def _scan(self, folder: Path, base: str, first: str) -> Iterator[BlobInfo]:
        """Files under ``folder`` whose key is ``base`` + a path starting with ``first``."""
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise BlobError(f"cannot list {folder}: {exc.strerror or exc}") from exc
        for entry in entries:
            if not entry.name.startswith(first):
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from self._scan(Path(entry.path), f"{base}{entry.name}/", "")
            elif entry.is_file(follow_symlinks=False) and not entry.name.startswith(TEMP_PREFIX):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted while we looked
                yield BlobInfo(f"{base}{entry.name}", st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def prefixes(self, prefix: str = "") -> builtins.list[str]:
        """The folders directly under ``prefix`` (which ends with ``/`` or is empty), each
        ending with ``/``: what ``datamap discover`` compares with the data map."""
        check_prefix(prefix)
        problem = self._root_ready()
        if problem is not None:
            raise BlobError(problem)
        start = self.root.joinpath(*prefix.rstrip("/").split("/")) if prefix else self.root
        if not start.is_dir():
            return []
        return sorted((f"{prefix}{e.name}/" for e in os.scandir(start) if e.is_dir(follow_symlinks=False)),
                      key=lambda p: p.encode("utf-8"))

    def get(self, key: str) -> bytes:
        path = self.path_of(key)
        if not self._inside(path):
            raise BlobNotFound(f"no blob {key!r} in {self.location}")
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(f"no blob {key!r} in {self.location}") from None
        except OSError as exc:
            raise BlobError(f"cannot read blob {key!r} in {self.location}: {exc.strerror or exc}") from exc

    def exists(self, key: str) -> bool:
        path = self.path_of(key)
        return self._inside(path) and path.is_file()

    # -- write ----------------------------------------------------------------------------
    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        path = self.path_of(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BlobError(f"cannot make the folder of blob {key!r} in {self.location}: "
                            f"{exc.strerror or exc}") from exc
        if not self._inside(path):
            raise BlobKeyError(f"blob key {key!r} leads outside {self.location} (a symbolic link)")
        temp = path.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
        try:
            with open(temp, "wb") as fh:
                fh.write(bytes(data))
            os.replace(temp, path)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise BlobError(f"cannot write blob {key!r} in {self.location}: {exc.strerror or exc}") from exc

    def delete_many(self, keys: Iterable[str]) -> DeleteResult:
        result = DeleteResult()
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return result
        problem = self._root_ready()
        if problem is not None:
            result.failed.update(dict.fromkeys(wanted, problem))
            return result
        for key in wanted:
            try:
                path = self.path_of(key)
            except BlobKeyError as exc:
                result.failed[key] = str(exc)
                continue
            result.calls += 1
            if not self._inside(path):
                result.failed[key] = "the key leads outside the store (a symbolic link)"
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                result.gone.append(key)  # never there, or already deleted: absent either way
                continue
            except OSError as exc:  # a folder where the file should be, a read-only mount, ...
                result.failed[key] = exc.strerror or str(exc)
                continue
            result.gone.append(key)
            self._prune(path.parent)
        return result

    def _prune(self, folder: Path) -> None:
        """Remove emptied folders from ``folder`` up to (not including) the root."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return  # not empty (or already gone): stop climbing
            folder = folder.parent
