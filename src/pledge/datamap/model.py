"""The data map (``dataset.yaml``): where a platform keeps personal data.

A dataset lists databases, their collections (tables) and fields. Fields carry
fideslang data categories, may be an *identity* (the value a request starts from),
and may *reference* a field elsewhere (a foreign key, declared or discovered). The
traversal planner walks these references from the identities to every collection.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from pledge.datamap.blobs import BlobTemplateError, KeyTemplate

#: Identity kinds a request can start from. ``person_tag`` names people who are not
#: users (onestepai face tags); ``external_id`` is any id another system gave them.
IdentityKind = Literal["email", "user_id", "phone", "external_id", "person_tag", "customer_id"]

#: How a field or a row is erased.
#: delete: remove the row · null: set NULL · hmac: keyed pseudonym · redact: fixed mask
#: fake: a generated stand-in · retain: keep (an exemption must say why)
Strategy = Literal["delete", "null", "hmac", "redact", "fake", "retain"]


#: A name of a database, collection or field: no dots (dots join them in references).
_NAME = re.compile(r"^[^.\s][^.]*$")


def _check_name(kind: str, value: str) -> str:
    if not _NAME.match(value) or value != value.strip():
        raise ValueError(f"{kind} name {value!r} must be non-empty, without dots or surrounding spaces")
    return value


def _duplicates(names: list[str]) -> list[str]:
    seen: set[str] = set()
    dups: set[str] = set()
    for n in names:
        (dups if n in seen else seen).add(n)
    return sorted(dups)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reference(Strict):
    """This field holds the value of ``field`` (``db.collection.field``)."""

    field: str
    direction: Literal["from", "to"] = Field(
        default="from", description="from: this field's value is taken from the referenced field."
    )
    discovered: bool = Field(default=False, description="Found from a live foreign key.")

    @field_validator("field")
    @classmethod
    def _dotted(cls, value: str) -> str:
        parts = value.split(".")
        if len(parts) not in (2, 3) or not all(p.strip() for p in parts):
            raise ValueError(
                f"reference {value!r} must name db.collection.field (or collection.field in the "
                "same database), e.g. main.users.id"
            )
        return value

    @property
    def target(self) -> tuple[str, str, str]:
        """(database, collection, field) of the referenced field. Inside a Database a
        ``collection.field`` reference is completed with the database's name on load."""
        parts = self.field.split(".")
        if len(parts) != 3:
            raise ValueError(f"reference {self.field!r} has no database part")
        return parts[0], parts[1], parts[2]


class DataField(Strict):
    name: str
    categories: list[str] = Field(default_factory=list, description="fideslang data categories")
    identity: IdentityKind | None = None
    primary_key: bool = False
    data_type: str | None = None
    references: list[Reference] = Field(default_factory=list)
    erasure: Strategy | None = Field(default=None, description="Overrides the collection's strategy.")
    nullable: bool | None = None
    rectifiable: bool = Field(default=False, description=(
        "A person may ask to correct it (GDPR Art. 16). Never a key, a reference or a system column "
        "such as a status or a last sign-in."))

    @model_validator(mode="after")
    def _rectifiable_ok(self) -> DataField:
        if self.rectifiable and (self.primary_key or self.references):
            raise ValueError(f"field {self.name!r}: keys and references cannot be rectifiable")
        return self

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name("field", value)

    @property
    def is_personal(self) -> bool:
        """Declares personal data: a ``user.*`` category, or an identity."""
        return self.identity is not None or any(c == "user" or c.startswith("user.") for c in self.categories)


def located_errors(title: str, errors: Sequence[tuple[tuple[str | int, ...], str, Any]]) -> ValidationError:
    """A ValidationError whose errors point at ``loc`` (relative to the model raising it), so
    a loaded file's error names the exact line: ``errors`` are (loc, message, input)."""
    return ValidationError.from_exception_data(title, [
        InitErrorDetails(type=PydanticCustomError("datamap", "{message}", {"message": message}), loc=loc, input=value)
        for loc, message, value in errors])


class Storage(Strict):
    """A place where the platform keeps files (``stores:``): a folder or a bucket."""

    name: str
    url: str = Field(description="A folder (relative to the data map's file), file:///path, "
                                 "s3://bucket[/prefix][?endpoint_url=…&region=…], or $env:VAR. "
                                 "PLEDGE_BLOBS_<NAME> replaces it for one deployment.")
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name("store", value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a store URL is required: a folder, file:///path or s3://bucket/prefix")
        return value


class BlobLink(Strict):
    """Blobs that belong to each row of a collection (``blobs:``)."""

    store: str = Field(description="The name of a store declared under stores:.")
    key: str = Field(description="Key template filled from the row: uploads/{id}, media/{user_id}/{id}.png; "
                                 "ending with '/' it names a prefix whose every blob belongs to the row.")
    description: str | None = None

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        try:
            KeyTemplate.parse(value)
        except BlobTemplateError as exc:
            raise ValueError(str(exc)) from None
        return value

    @property
    def template(self) -> KeyTemplate:
        return KeyTemplate.parse(self.key)


class Collection(Strict):
    name: str
    description: str | None = None
    fields: list[DataField] = Field(default_factory=list)
    erasure: Strategy = Field(
        default="null", description="delete the row, or mask its personal fields with this strategy"
    )
    exemption: str | None = Field(default=None, description="A policy exemption key that keeps these rows.")
    shared: Literal["owner", "anonymise", "keep"] | None = Field(
        default=None, description="Content other people share (workspace messages, face tags)."
    )
    after: list[str] = Field(
        default_factory=list,
        description="Extra ordering: erase after these collections (db.collection, or a bare name in "
        "the same database).",
    )
    owner: list[str] = Field(
        default_factory=list,
        description="Fields through which a row belongs to a person: identity fields, or references (to a "
        "table of people, or to a container whose owner owns the row). Erasing a person erases a row only "
        "when these identify them; every other person field is just a link, cut on erasure. Default: the "
        "identity fields and the references to tables of people.",
    )
    exemption_via: str | None = Field(
        default=None,
        description="A field of this collection with a declared reference: the exemption's trigger is read "
        "from the referenced row (invoice lines dated by their invoice). Default: the one reference that "
        "leads to the trigger, if there is exactly one.",
    )
    blobs: list[BlobLink] = Field(
        default_factory=list,
        description="Files that belong to each row: a store and a key template filled from the row "
        "(uploads/{id}). Access exports them, erasure and retention delete them with their rows.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name("collection", value)

    @field_validator("after")
    @classmethod
    def _after(cls, value: list[str]) -> list[str]:
        for item in value:
            parts = item.split(".")
            if len(parts) > 2 or not all(p.strip() for p in parts):
                raise ValueError(f"after entry {item!r} must be db.collection or collection")
        return value

    @model_validator(mode="after")
    def _unique_fields(self) -> Collection:
        dups = _duplicates([f.name for f in self.fields])
        if dups:
            raise ValueError(f"collection {self.name!r} declares field(s) twice: {', '.join(dups)}")
        names = [f.name for f in self.fields]
        for name in self.owner:
            if name not in names:
                raise ValueError(f"collection {self.name!r}: owner names {name!r}, which is not one of its "
                                 f"fields ({', '.join(names) or 'none'})")
            f = self.field(name)
            if f.identity is None and not f.references:
                raise ValueError(f"collection {self.name!r}: owner field {name!r} must be an identity field or "
                                 "have a reference (it says whose the row is)")
        declared = set(names)
        problems = [(("blobs", i, "key"), message, link.key) for i, link in enumerate(self.blobs)
                    for message in link.template.unknown(None, self.name, declared)]
        if problems:
            raise located_errors("Collection", problems)
        if self.exemption_via is not None:
            if self.exemption is None:
                raise ValueError(f"collection {self.name!r}: exemption_via needs an exemption")
            if self.exemption_via not in names or not self.field(self.exemption_via).references:
                raise ValueError(f"collection {self.name!r}: exemption_via {self.exemption_via!r} must be one of "
                                 "its fields with a reference (to the collection holding the trigger)")
        return self

    def has_field(self, name: str) -> bool:
        return any(f.name == name for f in self.fields)

    def field(self, name: str) -> DataField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"collection {self.name!r} has no field {name!r}")

    @property
    def primary_key(self) -> list[str]:
        return [f.name for f in self.fields if f.primary_key]


class Database(Strict):
    name: str
    url: str | None = Field(default=None, description="SQLAlchemy URL or $env:VAR; default: the config's.")
    collections: list[Collection] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name("database", value)

    @model_validator(mode="after")
    def _unique_collections(self) -> Database:
        dups = _duplicates([c.name for c in self.collections])
        if dups:
            raise ValueError(f"database {self.name!r} declares collection(s) twice: {', '.join(dups)}")
        wrong = [(("collections", j, "blobs", i, "key"), message, link.key)
                 for j, coll in enumerate(self.collections) for i, link in enumerate(coll.blobs)
                 for message in link.template.unknown(self.name, coll.name, {f.name for f in coll.fields})]
        if wrong:
            raise located_errors("Database", wrong)
        # complete collection.field references with this database's name
        for coll in self.collections:
            for f in coll.fields:
                for ref in f.references:
                    if ref.field.count(".") == 1:
                        ref.field = f"{self.name}.{ref.field}"
        return self

    def has_collection(self, name: str) -> bool:
        return any(c.name == name for c in self.collections)

    def collection(self, name: str) -> Collection:
        for c in self.collections:
            if c.name == name:
                return c
        raise KeyError(f"database {self.name!r} has no collection {name!r}")


class SourceRef:
    """Where a model was loaded from (a :class:`pledge.yamlio.SourceMap`); never part of
    equality, so a dataset read from a file equals the same dataset built in code."""

    __slots__ = ("source",)

    def __init__(self, source: Any) -> None:
        self.source = source

    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, SourceRef)

    __hash__ = None  # type: ignore[assignment]


class OrgAdminLink(Strict):
    """How the administrator of a member's organisation is found (``verification.managed_accounts:
    org_admin``): the member's row names its organisation; the organisation's row names the
    administrator's row in the facts collection."""

    member_field: str = Field(description="Field of the facts collection naming the member's organisation, "
                                          "e.g. organisation_id (it holds the organisation's key).")
    admin: str = Field(description="db.collection.field of the organisation naming its administrator by "
                                   "the facts collection's key, e.g. main.organisations.admin_user_id.")

    @field_validator("admin")
    @classmethod
    def _dotted(cls, value: str) -> str:
        if value.count(".") != 2 or not all(p.strip() for p in value.split(".")):
            raise ValueError(f"admin {value!r} must name db.collection.field, e.g. main.organisations.admin_user_id")
        return value


class PersonFacts(Strict):
    """Where consent decisions read a person's facts (optional; found by field names if absent)."""

    collection: str = Field(description="db.collection with one row per person, e.g. main.users")
    email: str | None = Field(default=None, description="Default: the field whose identity is email.")
    birth_date: str | None = None
    parental_consent: str | None = None
    status: str | None = None
    closed_at: str | None = None
    closed_statuses: list[str] = Field(default_factory=list, description="Default: closed, deleted, ...")
    last_active: str | None = Field(default=None, description=(
        "The column POST /v1/activity moves forward. Default: the last_* trigger of a retention rule "
        "on this collection, else last_login_at."))
    org_admin: OrgAdminLink | None = Field(default=None, description="How a member's organisation "
                                           "administrator is found (organisation accounts).")


class Dataset(Strict):
    """The whole data map of one platform."""

    name: str
    description: str | None = None
    stores: list[Storage] = Field(default_factory=list, description="Where the platform keeps files "
                                        "(folders, buckets); collections name them in blobs:.")
    databases: list[Database] = Field(default_factory=list)
    facts: PersonFacts | None = Field(default=None, description="Person facts for consent decisions.")
    #: the loaded file's pledge.yamlio.SourceMap (paths of this model -> file lines), if any
    _source: SourceRef | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _unique_databases(self) -> Dataset:
        dups = _duplicates([d.name for d in self.databases])
        if dups:
            raise ValueError(f"dataset declares database(s) twice: {', '.join(dups)}")
        names = [s.name for s in self.stores]
        problems: list[tuple[tuple[str | int, ...], str, Any]] = [
            (("stores", i, "name"), f"store {s.name!r} is declared twice", s.name)
            for i, s in enumerate(self.stores) if s.name in names[:i]]
        for d, db in enumerate(self.databases):
            for c, coll in enumerate(db.collections):
                for i, link in enumerate(coll.blobs):
                    if link.store not in names:
                        problems.append((("databases", d, "collections", c, "blobs", i, "store"),
                                         f"store {link.store!r} is not declared under stores: "
                                         f"({', '.join(names) or 'none is'})", link.store))
        if problems:
            raise located_errors("Dataset", problems)
        return self

    def store(self, name: str) -> Storage:
        for s in self.stores:
            if s.name == name:
                return s
        raise KeyError(f"dataset has no store {name!r}")

    def blob_links(self) -> Iterator[tuple[Database, Collection, BlobLink]]:
        """Every collection's declared blobs, in file order."""
        for db in self.databases:
            for coll in db.collections:
                for link in coll.blobs:
                    yield db, coll, link

    def loaded_from(self, source: Any) -> Dataset:
        """Remember the file's :class:`pledge.yamlio.SourceMap` (for :meth:`where`); returns self."""
        self._source = SourceRef(source)
        return self

    def where(self, database: str, collection: str | None = None, field: str | None = None,
              *, facts: str | None = None) -> str | None:
        """``file:line`` where a database, collection or field (or a key of the ``facts:``
        block) is declared; None when the dataset was not loaded from a file."""
        if self._source is None:
            return None
        src = self._source.source
        parts: tuple[str | int, ...]
        if facts is not None:
            parts = ("facts", facts) if facts else ("facts",)
        else:
            parts = ()
            for i, db in enumerate(self.databases):
                if db.name != database:
                    continue
                parts = ("databases", i)
                for j, coll in enumerate(db.collections):
                    if collection is not None and coll.name == collection:
                        parts = (*parts, "collections", j)
                        for k, f in enumerate(coll.fields):
                            if field is not None and f.name == field:
                                parts = (*parts, "fields", k)
                                break
                        break
                break
        line = src.line_of(parts)
        return f"{src.file}:{line}" if line is not None else str(src.file)

    def has(self, dotted: str) -> bool:
        """Whether ``db.collection.field`` (or ``db.collection``) is declared."""
        try:
            self.resolve(dotted) if dotted.count(".") == 2 else self.resolve_collection(dotted)
        except KeyError:
            return False
        return True

    def resolve_collection(self, dotted: str) -> tuple[Database, Collection]:
        """``db.collection`` to its two parts."""
        parts = dotted.split(".")
        if len(parts) != 2:
            raise KeyError(f"{dotted!r} is not db.collection")
        db = self.database(parts[0])
        return db, db.collection(parts[1])

    def fields(self) -> Iterator[tuple[Database, Collection, DataField]]:
        """Every declared field, in file order."""
        for db in self.databases:
            for coll in db.collections:
                for f in coll.fields:
                    yield db, coll, f

    def identities(self) -> Iterator[tuple[Database, Collection, DataField]]:
        """Every identity field: where a request can start."""
        return ((d, c, f) for d, c, f in self.fields() if f.identity is not None)

    def references(self, *, discovered: bool = True) -> Iterator[tuple[str, Reference]]:
        """(``db.collection.field`` of the referring field, its reference); ``discovered=False``
        leaves out references found from live foreign keys."""
        for db, coll, f in self.fields():
            for ref in f.references:
                if discovered or not ref.discovered:
                    yield f"{db.name}.{coll.name}.{f.name}", ref

    def after_targets(self, db: Database, coll: Collection) -> list[str]:
        """``coll.after`` as ``db.collection`` names."""
        return [a if "." in a else f"{db.name}.{a}" for a in coll.after]

    def database(self, name: str) -> Database:
        for d in self.databases:
            if d.name == name:
                return d
        raise KeyError(f"dataset has no database {name!r}")

    def resolve(self, dotted: str) -> tuple[Database, Collection, DataField]:
        """``db.collection.field`` to its three parts."""
        parts = dotted.split(".")
        if len(parts) != 3:
            raise KeyError(f"{dotted!r} is not db.collection.field")
        db = self.database(parts[0])
        coll = db.collection(parts[1])
        return db, coll, coll.field(parts[2])
