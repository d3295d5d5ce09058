"""The condition language of retention rules and legal holds, compiled to SQL here.

A rule's ``condition`` (``status = 'closed' AND organisation_id IS NULL``) and a record-set
hold's condition are a small, validated SQL subset (:data:`ALLOWED`). :func:`parse_condition`
turns one into a bound SQLAlchemy expression over a live table; nothing from the policy text
is ever pasted into SQL. It lives in the data plane because only the data plane and the
connectors build statements against the platform (``tests/test_boundaries.py``); retention
code names conditions as text (:class:`pledge.dataplane.selection.Condition`).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, String, Table, and_, false, literal, or_, true
from sqlalchemy.sql.elements import ColumnElement

from pledge.errors import InvalidInput

__all__ = ["ALLOWED", "ConditionError", "MAX_CONDITION", "MAX_DEPTH", "parse_condition"]

Expr = ColumnElement[Any]
MAX_CONDITION = 2000
MAX_DEPTH = 40


class ConditionError(InvalidInput):
    """A condition outside the allowed SQL subset."""


# -- the condition language ---------------------------------------------------------------------
_TOKEN = re.compile(r"""
    (?P<str>'(?:[^']|'')*')
  | (?P<num>-?\d+(?:\.\d+)?)(?![A-Za-z_0-9])
  | (?P<op><=|>=|<>|!=|=|<|>)
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
""", re.X)
_KEYWORDS = {"AND", "OR", "IS", "NOT", "NULL", "TRUE", "FALSE"}
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "<>": operator.ne, "!=": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
ALLOWED = ("column names of the table, = <> != < <= > >=, 'text', numbers, TRUE, FALSE, "
           "IS NULL, IS NOT NULL, AND, OR and parentheses")


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            raise ConditionError(f"condition {text!r}: {text[pos]!r} at position {pos} is not allowed; "
                                 f"allowed: {ALLOWED}")
        out.append((m.lastgroup, m.group(), pos))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str, table: Table) -> None:
        self.text = text
        self.table = table
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    def error(self, message: str) -> ConditionError:
        return ConditionError(f"condition {self.text!r}: {message}; allowed: {ALLOWED}")

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise self.error("it ends too early")
        self.i += 1
        return tok

    def word(self, value: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[0] == "word" and tok[1].upper() == value:
            self.i += 1
            return True
        return False

    def parse(self) -> Expr:
        expr = self.or_()
        tok = self.peek()
        if tok is not None:
            raise self.error(f"unexpected {tok[1]!r} at position {tok[2]}")
        return expr

    def or_(self) -> Expr:
        parts = [self.and_()]
        while self.word("OR"):
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else or_(*parts)

    def and_(self) -> Expr:
        parts = [self.atom()]
        while self.word("AND"):
            parts.append(self.atom())
        return parts[0] if len(parts) == 1 else and_(*parts)

    def atom(self) -> Expr:
        tok = self.peek()
        if tok is not None and tok[0] == "lp":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error("parentheses nest too deep")
            self.take()
            inner = self.or_()
            if self.take()[0] != "rp":
                raise self.error("a parenthesis is not closed")
            self.depth -= 1
            return inner
        return self.comparison()

    def column(self, tok: tuple[str, str, int]) -> Column[Any]:
        kind, value, pos = tok
        if kind != "word" or value.upper() in _KEYWORDS:
            raise self.error(f"expected a column name at position {pos}, found {value!r}")
        nxt = self.peek()
        if nxt is not None and nxt[0] == "lp":
            raise self.error(f"function calls such as {value}(…) are not allowed")
        if value not in self.table.c:
            raise self.error(f"{value!r} is not a column of {self.table.name} "
                             f"(columns: {', '.join(self.table.c.keys())})")
        return self.table.c[value]

    def comparison(self) -> Expr:
        col = self.column(self.take())
        if self.word("IS"):
            negate = self.word("NOT")
            if not self.word("NULL"):
                raise self.error("IS must be followed by NULL or NOT NULL")
            return col.is_not(None) if negate else col.is_(None)
        kind, op, pos = self.take()
        if kind != "op":
            raise self.error(f"expected a comparison operator after {col.name}, found {op!r} at position {pos}")
        return _OPS[op](col, self.value(col))  # type: ignore[no-any-return]

    def value(self, col: Column[Any]) -> Any:
        kind, value, pos = self.take()
        if kind == "str":
            return literal(value[1:-1].replace("''", "'"), type_=String())
        if kind == "num":
            return literal(float(value) if "." in value else int(value))
        if kind == "word" and value.upper() in ("TRUE", "FALSE"):
            return true() if value.upper() == "TRUE" else false()
        if kind == "word" and value.upper() == "NULL":
            raise self.error(f"compare with NULL using IS NULL or IS NOT NULL (position {pos})")
        if kind == "word":
            return self.column((kind, value, pos))
        raise self.error(f"expected a value at position {pos}, found {value!r}")


def parse_condition(text: str, table: Table) -> Expr:
    """``text`` (e.g. ``status = 'closed' AND organisation_id IS NULL``) as a bound
    expression over ``table``; anything outside :data:`ALLOWED` raises ConditionError."""
    if len(text) > MAX_CONDITION:
        raise ConditionError(f"condition is {len(text)} characters long; at most {MAX_CONDITION}")
    if not text.strip():
        raise ConditionError("condition is empty")
    return _Parser(text, table).parse()
