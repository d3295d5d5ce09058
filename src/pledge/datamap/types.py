"""Type families: declared ``data_type`` strings and live SQL types, compared loosely.

A dataset names a field's type in its own words (``string``, ``integer``, Fides'
``object_id`` or ``string[]``, or SQL names such as ``varchar(255)``). The live
database reports SQLAlchemy types, which differ per engine (MariaDB reflects BOOLEAN
as TINYINT, JSON as LONGTEXT). Both sides are reduced to a *family* and compared.
"""

from __future__ import annotations

import re

from sqlalchemy import types as sat

Family = str  # one of FAMILIES

FAMILIES = ("string", "integer", "float", "boolean", "date", "datetime", "time", "json", "bytes",
            "uuid", "array", "interval")

_DECLARED: dict[str, Family] = {}
for _family, _names in {
    "string": "string str text varchar char nvarchar nchar clob character citext enum object_id email",
    "integer": "integer int bigint smallint tinyint mediumint serial bigserial long",
    "float": "float double real decimal numeric number money",
    "boolean": "boolean bool bit",
    "date": "date",
    "datetime": "datetime timestamp timestamptz datetime2",
    "time": "time timetz",
    "json": "json jsonb object dict",
    "bytes": "bytes binary varbinary blob bytea longblob",
    "uuid": "uuid guid",
    "interval": "interval",
}.items():
    for _n in _names.split():
        _DECLARED[_n] = _family

#: Pairs that engines blur and are therefore not a mismatch.
_COMPATIBLE = {
    frozenset({"boolean", "integer"}),  # MariaDB/MySQL BOOLEAN is TINYINT(1)
    frozenset({"json", "string"}),  # MariaDB JSON is LONGTEXT
    frozenset({"uuid", "string"}),  # CHAR(32/36) on engines without a UUID type
    frozenset({"date", "datetime"}),  # SQLite stores both as text; Oracle-style DATE
    frozenset({"float", "integer"}),  # NUMERIC without scale reflects as either
}


def declared_family(data_type: str) -> Family | None:
    """The family of a declared ``data_type``; None when the name is unknown."""
    name = data_type.strip().lower()
    if name.endswith("[]"):
        return "array"
    name = re.sub(r"\(.*\)$", "", name).strip()  # varchar(255) -> varchar
    name = name.split()[0] if name else name  # "timestamp with time zone" -> timestamp
    return _DECLARED.get(name)


def live_family(sql_type: sat.TypeEngine[object] | object) -> Family:
    """The family of a reflected SQLAlchemy column type."""
    t = sql_type
    if isinstance(t, sat.ARRAY):
        return "array"
    if isinstance(t, sat.Boolean):
        return "boolean"
    if isinstance(t, sat.Integer):
        return "integer"
    if isinstance(t, sat.Numeric):  # Float is a Numeric
        return "float"
    if isinstance(t, sat.DateTime):
        return "datetime"
    if isinstance(t, sat.Date):
        return "date"
    if isinstance(t, sat.Time):
        return "time"
    if isinstance(t, sat.Interval):
        return "interval"
    if isinstance(t, sat.JSON):
        return "json"
    if isinstance(t, sat.Uuid):
        return "uuid"
    if isinstance(t, sat.Enum | sat.String):
        return "string"
    if isinstance(t, sat.LargeBinary | sat.BINARY | sat.VARBINARY):
        return "bytes"
    name = type(t).__name__.lower()
    if "int" in name:
        return "integer"
    if "json" in name:
        return "json"
    return declared_family(name) or "string"


def compatible(declared: Family, live: Family) -> bool:
    return declared == live or frozenset({declared, live}) in _COMPATIBLE
