"""The physical limit (#19): a request's lookups and writes written by hand, in one transaction.

The same indexed statements Pledge issues for a request on the bench shop, with psycopg and
nothing else: no audit, no store, no HTTP, no package. Access reads every row about the
customer (the email matched case-insensitively through ``lower(email)``, as Pledge does,
then each table by its foreign key); erasure finds the same rows' keys and NULLs the same
personal fields that the data map nulls (``dataset.yml``'s ``null_rewrite`` fields). Run on
its own copy of the shop, its erasures leave the tables exactly as Pledge's do (the bench
checks that too).
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

#: table -> the personal fields the data map nulls on erasure
NULLED = {
    "customers": ("email", "name", "phone"),
    "addresses": ("street", "city", "postal_code"),
    "orders": ("shipping_name", "shipping_street"),
    "order_items": ("gift_message",),
    "support_tickets": ("subject", "body"),
    "login_events": ("ip_address", "user_agent"),
}
BY_CUSTOMER = ("addresses", "orders", "support_tickets", "login_events")


def _rows(conn: psycopg.Connection[Any], email: str, cols: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row about the customer: ``cols`` is ``*`` (access) or ``id`` (erasure)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    out["customers"] = conn.execute(f"SELECT {cols} FROM customers WHERE lower(email) = %s",
                                    (email.lower(),)).fetchall()
    cids = [r[0] for r in out["customers"]]
    for table in BY_CUSTOMER:
        out[table] = conn.execute(f"SELECT {cols} FROM {table} WHERE customer_id = ANY(%s)", (cids,)).fetchall()
    oids = [r[0] for r in out["orders"]]
    out["order_items"] = conn.execute(f"SELECT {cols} FROM order_items WHERE order_id = ANY(%s)", (oids,)).fetchall()
    return out


def access(conn: psycopg.Connection[Any], email: str) -> int:
    """Read every row about the customer in one transaction; returns the rows read."""
    with conn.transaction():
        return sum(len(v) for v in _rows(conn, email, "*").values())


def erase(conn: psycopg.Connection[Any], email: str) -> int:
    """Null the customer's personal fields in one transaction; returns the rows changed."""
    changed = 0
    with conn.transaction():
        for table, rows in _rows(conn, email, "id").items():
            if rows:
                sets = ", ".join(f"{c} = NULL" for c in NULLED[table])
                cur = conn.execute(f"UPDATE {table} SET {sets} WHERE id = ANY(%s)", ([r[0] for r in rows],))
                changed += cur.rowcount
    return changed


def timed(dsn: str, kind: str, emails: list[str]) -> tuple[list[float], float]:
    """Seconds per request (one connection, kept open, as a pool would) and CPU seconds of
    this client per request (the database's own CPU is not in it)."""
    fn = access if kind == "access" else erase
    times: list[float] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        cpu0 = time.process_time()
        for email in emails:
            t0 = time.perf_counter()
            fn(conn, email)
            times.append(time.perf_counter() - t0)
        cpu = (time.process_time() - cpu0) / max(1, len(emails))
    return times, cpu
