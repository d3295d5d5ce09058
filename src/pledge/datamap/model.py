"""The data map (``dataset.yaml``): where a platform keeps personal data.

A dataset lists databases, their collections (tables) and fields. Fields carry
fideslang data categories, may be an *identity* (the value a request starts from),
and may *reference* a field elsewhere (a foreign key, declared or discovered). The
traversal planner walks these references from the identities to every collection.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name("field", value)

    @property
    def is_personal(self) -> bool:
        """Declares personal data: a ``user.*`` category, or an identity."""
        return self.identity is not None or any(c == "user" or c.startswith("user.") for c in self.categories)


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


class PersonFacts(Strict):
    """Where consent decisions read a person's facts (optional; found by field names if absent)."""

    collection: str = Field(description="db.collection with one row per person, e.g. main.users")
    email: str | None = Field(default=None, description="Default: the field whose identity is email.")
    birth_date: str | None = None
    parental_consent: str | None = None
    status: str | None = None
    closed_at: str | None = None
    closed_statuses: list[str] = Field(default_factory=list, description="Default: closed, deleted, ...")


class Dataset(Strict):
    """The whole data map of one platform."""

    name: str
    description: str | None = None
    databases: list[Database] = Field(default_factory=list)
    facts: PersonFacts | None = Field(default=None, description="Person facts for consent decisions.")

    @model_validator(mode="after")
    def _unique_databases(self) -> Dataset:
        dups = _duplicates([d.name for d in self.databases])
        if dups:
            raise ValueError(f"dataset declares database(s) twice: {', '.join(dups)}")
        return self

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
