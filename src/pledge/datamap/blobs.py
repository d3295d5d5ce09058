"""Files in the data map: blob stores, and key templates filled from rows.

A platform keeps uploads beside its rows. The data map declares where (``stores:``, a
folder or a bucket) and, on a collection, which blobs belong to each row (``blobs:``)::

    stores:
      - {name: uploads, url: blobs/uploads}        # a folder beside dataset.yaml; or s3://bucket/prefix
    databases:
      - name: main
        collections:
          - name: files
            blobs:
              - {store: uploads, key: "uploads/{id}"}
            fields: [{name: id, primary_key: true}, ...]

A key template names fields of its own collection in braces, bare (``{id}``) or in full
(``{main.files.id}``); ``{{`` and ``}}`` are literal braces. A template that ends with
``/`` names a prefix: every blob under it belongs to the row (``users/{user_id}/``). Each
template has at least one placeholder, so no two rows share a blob by accident.

A rendered value may not contain ``/`` or be ``.``/``..`` (a filename column could
otherwise reach another row's blobs): such a row has no blob, and :meth:`KeyTemplate.render`
says why. A store's URL may be ``$env:VAR``, and ``PLEDGE_BLOBS_<NAME>`` (the store's name
upper-cased, other characters ``_``) replaces it for one deployment (blobs on S3 instead of
the folder the example ships with).
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pledge.blobs.base import BlobKeyError, check_key, check_prefix
from pledge.errors import InvalidInput, NotConfigured

__all__ = ["BlobTemplateError", "KeyTemplate", "Rendered", "override_variable", "resolve_store_url"]

_FIELD = re.compile(r"^[^.\s{}]+$")


class BlobTemplateError(InvalidInput):
    """A key template that cannot name blobs safely."""


@dataclass(frozen=True)
class Rendered:
    """A key (or prefix) for one row, or why the row has none."""

    key: str | None
    problem: str | None = None


@dataclass(frozen=True)
class KeyTemplate:
    """A parsed key template: literal text and field placeholders, in order."""

    text: str
    #: literal text and field names alternate: (literal, field, literal, field, ..., literal)
    pieces: tuple[str, ...]
    #: the placeholders as written (bare or db.collection.field)
    written: tuple[str, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        """The collection's fields the template reads (bare names, in order, once each)."""
        return tuple(dict.fromkeys(w.rsplit(".", 1)[-1] for w in self.written))

    @property
    def is_prefix(self) -> bool:
        return self.text.endswith("/")

    @classmethod
    def parse(cls, text: str) -> KeyTemplate:
        """Parse and check the template's form (not its fields); raises BlobTemplateError."""
        if not isinstance(text, str) or not text.strip():
            raise BlobTemplateError("a key template is required, e.g. uploads/{id}")
        pieces: list[str] = []
        written: list[str] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise BlobTemplateError(f"key template {text!r}: {exc} (write a literal brace as {{{{ or }}}})") from None
        literal = ""
        for before, name, spec, conversion in parsed:
            literal += before
            if name is None:
                continue
            if spec or conversion:
                raise BlobTemplateError(f"key template {text!r}: {{{name}}} takes no format or conversion")
            parts = name.split(".")
            if not name or len(parts) not in (1, 3) or not all(_FIELD.match(p) for p in parts):
                raise BlobTemplateError(f"key template {text!r}: {{{name}}} must name a field of the collection, "
                                        "as {field} or {db.collection.field}")
            pieces.extend((literal, name))
            written.append(name)
            literal = ""
        pieces.append(literal)
        if not written:
            raise BlobTemplateError(f"key template {text!r} has no placeholder: every row would share one key "
                                    "(name a field, e.g. uploads/{id})")
        template = cls(text, tuple(pieces), tuple(written))
        sample = template.fill(dict.fromkeys(template.fields, "1"))
        try:
            check_prefix(sample) if template.is_prefix else check_key(sample)
        except BlobKeyError as exc:
            raise BlobTemplateError(f"key template {text!r} does not make a safe key: {exc}") from None
        return template

    def unknown(self, database: str | None, collection: str, declared: set[str]) -> list[str]:
        """Placeholders that are not fields of ``database.collection`` (messages)."""
        out: list[str] = []
        for name in self.written:
            parts = name.split(".")
            if len(parts) == 3 and (parts[1] != collection or (database is not None and parts[0] != database)):
                where = f"{database}.{collection}" if database else collection
                out.append(f"{{{name}}} names another collection; a key template reads fields of its own ({where})")
            elif parts[-1] not in declared:
                known = ", ".join(sorted(declared)) or "none"
                out.append(f"{{{name}}} is not a field of collection {collection!r} (its fields: {known})")
        return out

    def fill(self, values: Mapping[str, str]) -> str:
        out: list[str] = []
        for i, piece in enumerate(self.pieces):
            out.append(piece if i % 2 == 0 else values[piece.rsplit(".", 1)[-1]])
        return "".join(out)

    def render(self, row: Mapping[str, Any]) -> Rendered:
        """The key for ``row`` (a mapping of field names to values), or why it has none."""
        values: dict[str, str] = {}
        for name in self.fields:
            if name not in row:
                return Rendered(None, f"the row has no field {name!r}")
            value = row[name]
            if value is None:
                return Rendered(None, f"{name} is empty")
            text = value.isoformat() if hasattr(value, "isoformat") else str(value)
            if "/" in text or text in (".", "..") or not text or "\x00" in text:
                return Rendered(None, f"{name} holds {text!r}, which cannot be part of a key")
            values[name] = text
        key = self.fill(values)
        try:
            check_prefix(key) if self.is_prefix else check_key(key)
        except BlobKeyError as exc:
            return Rendered(None, str(exc))
        return Rendered(key)


def override_variable(store: str) -> str:
    """``PLEDGE_BLOBS_<NAME>``: the variable that replaces a store's URL for one deployment."""
    return "PLEDGE_BLOBS_" + re.sub(r"[^A-Za-z0-9]", "_", store).upper()


def resolve_store_url(name: str, url: str, *, env: Mapping[str, str] | None = None) -> str:
    """A store's URL as it is to be opened: ``PLEDGE_BLOBS_<NAME>`` when set, else the
    declared URL with ``$env:VAR`` read from the environment (NotConfigured when unset).
    Relative folders stay relative; the caller opens them against the data map's folder."""
    env = os.environ if env is None else env
    override = env.get(override_variable(name))
    if override:
        return override
    if url.startswith("$env:"):
        var = url[len("$env:"):]
        value = env.get(var)
        if not value:
            raise NotConfigured(f"blob store {name!r}: its URL is {url}, and {var} is not set "
                                f"(or set {override_variable(name)})")
        return value
    return url


def base_dir_of(source_file: str | Path | None) -> Path | None:
    """The folder a data map's relative store folders are opened in: the data map's own."""
    if source_file is None:
        return None
    path = Path(str(source_file))
    return path.parent if path.suffix else None
