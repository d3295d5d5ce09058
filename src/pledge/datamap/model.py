"""The data map (``dataset.yaml``): where a platform keeps personal data.

A dataset lists databases, their collections (tables) and fields. Fields carry
fideslang data categories, may be an *identity* (the value a request starts from),
and may *reference* a field elsewhere (a foreign key, declared or discovered). The
traversal planner walks these references from the identities to every collection.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Identity kinds a request can start from. ``person_tag`` names people who are not
#: users (onestepai face tags); ``external_id`` is any id another system gave them.
IdentityKind = Literal["email", "user_id", "phone", "external_id", "person_tag", "customer_id"]

#: How a field or a row is erased.
#: delete: remove the row · null: set NULL · hmac: keyed pseudonym · redact: fixed mask
#: fake: a generated stand-in · retain: keep (an exemption must say why)
Strategy = Literal["delete", "null", "hmac", "redact", "fake", "retain"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reference(Strict):
    """This field holds the value of ``field`` (``db.collection.field``)."""

    field: str
    direction: Literal["from", "to"] = Field(
        default="from", description="from: this field's value is taken from the referenced field."
    )
    discovered: bool = Field(default=False, description="Found from a live foreign key.")


class DataField(Strict):
    name: str
    categories: list[str] = Field(default_factory=list, description="fideslang data categories")
    identity: IdentityKind | None = None
    primary_key: bool = False
    data_type: str | None = None
    references: list[Reference] = Field(default_factory=list)
    erasure: Strategy | None = Field(default=None, description="Overrides the collection's strategy.")
    nullable: bool | None = None


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
    after: list[str] = Field(default_factory=list, description="Extra ordering: erase after these.")

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

    def collection(self, name: str) -> Collection:
        for c in self.collections:
            if c.name == name:
                return c
        raise KeyError(f"database {self.name!r} has no collection {name!r}")


class Dataset(Strict):
    """The whole data map of one platform."""

    name: str
    description: str | None = None
    databases: list[Database] = Field(default_factory=list)

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
