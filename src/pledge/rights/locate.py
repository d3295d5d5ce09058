"""Find every row about one person: the rights engine's door to the data plane.

Interface (used by access, portability, erasure and rectification)::

    from pledge.rights.locate import locate

    found = locate(engine, {"email": "ann@example.org"})          # every column
    found = locate(engine, {"person_tag": "tag-0042"}, columns="keys")  # keys only
    found.rows["main.users"]      -> list of row dicts, ordered by row key
    found.keys("main.users")      -> list of row-key tuples (composite keys included)
    found.primary_keys["main.users"] -> ["id"]  (the row key's columns)
    found.plan                     -> the pledge.datamap.plan.Plan that was run
    found.counts()                 -> {"main.users": 1, ...} (collections with rows)
    found.statements               -> SELECT statements issued
    found.via["main.messages"][(12,)] -> ("main.users.id", ...): the step sources that
                                     matched that row (how it is about the person)
    found.identities               -> the given identities, normalised ({"email": ["ann@example.org"]})
    found.discovered               -> identities found in the person's own rows, by kind
                                     ({"email": [...], "user_id": [42], "phone": [...]})

* ``identities`` maps an identity kind (email, user_id, phone, external_id, person_tag,
  customer_id) to one value or a list of values. Unknown kinds raise
  :class:`~pledge.datamap.plan.PlanError`. Values are matched under the identity rules of
  :mod:`pledge.dataplane.identity`: ``Mixed.Case@Example.com`` and ``mixed.case@example.com``
  are the same address on every engine.
* ``columns="all"`` returns whole rows; ``columns="keys"`` returns only the row key, the
  match fields, the fields later steps read (``plan.carry``) and identity fields, which is
  cheaper.
* ``connections`` lets a caller (erasure) pass its own ``{database: Connection}`` so
  that locating runs inside the caller's transaction; otherwise each database is read
  in its own transaction, opened here and closed before returning.
* Before reading, the data map is checked against the live schema (cached per process,
  :mod:`pledge.dataplane.schema`); a mismatch raises
  :class:`~pledge.dataplane.schema.SchemaMismatch` (a ``ConnectorError``) naming
  ``file:line``, the field and the live columns. Callers of ``locate`` need nothing more.

The work is done by :func:`pledge.dataplane.resolve.resolve`: one statement per table and
batch of values, never one per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from pledge.datamap.plan import Plan
from pledge.dataplane.resolve import Columns, Located, normalise_identities, resolve

if TYPE_CHECKING:
    from pledge.context import Context

__all__ = ["Columns", "Located", "locate", "normalise_identities"]


def locate(engine: Context, identities: Mapping[str, Any], *, columns: Columns = "all",
           connections: Mapping[str, Connection] | None = None, the_plan: Plan | None = None) -> Located:
    """Find every row about the person named by ``identities`` (see the module docstring)."""
    return resolve(engine, identities, columns=columns, connections=connections, the_plan=the_plan)
