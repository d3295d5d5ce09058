"""An UPDATE's SET clause as bound parameters, so that one built statement serves every
call that sets the same columns (#19: building a statement cost about as much as running
it). Build with :func:`set_columns`, run with :func:`set_params`::

    stmt = update(t).where(t.c.id == bindparam("row_id")).values(set_columns(t, ("state", "at")))
    conn.execute(stmt, {"row_id": 7, **set_params({"state": "done", "at": now})})
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import BindParameter, Table, bindparam

__all__ = ["set_columns", "set_params"]


def set_columns(table: Table, columns: Iterable[str]) -> dict[str, BindParameter[Any]]:
    """``{column: :v_<column>}``, each parameter typed as its column."""
    return {c: bindparam(f"v_{c}", type_=table.c[c].type) for c in columns}


def set_params(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values for :func:`set_columns`' parameters."""
    return {f"v_{k}": v for k, v in values.items()}
