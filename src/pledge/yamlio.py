"""YAML in, typed models out, with errors that name the file, the line and the field.

``load_model(path, Model)`` reads a YAML file, keeps the line and column of every node,
substitutes ``$env:VAR`` scalars from the environment, and validates the data with a
Pydantic model. Anything wrong — unreadable bytes, YAML syntax, an unset variable, a
misspelt field, a wrong type, a bad duration — becomes one :class:`LoadError` that lists
every problem as ``file:line:col: field.path: message (expected: …)``.

Nothing but ``LoadError`` escapes from here, whatever the input.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pledge.errors import InvalidInput

__all__ = [
    "Document",
    "Loaded",
    "LoadError",
    "Location",
    "Problem",
    "SourceMap",
    "format_path",
    "load_document",
    "load_model",
    "load_model_located",
    "parse_document",
    "validate",
]

M = TypeVar("M", bound=BaseModel)
PathPart = str | int
FieldPath = tuple[PathPart, ...]

ENV_PATTERN = re.compile(r"^\$env:([A-Za-z_][A-Za-z0-9_]*)$")
#: Aliases can make a tiny file expand into billions of nodes; stop long before that.
MAX_NODES = 100_000
DURATION_EXPECTED = (
    "an ISO 8601 duration P[nY][nM][nW][nD][T[nH][nM]], e.g. P30D, P1M, P12M, P5Y or PT72H"
)


@dataclass(frozen=True)
class Location:
    """A 1-based line and column in a file."""

    line: int
    column: int


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str
    expected: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: "
        if self.path:
            text += f"{self.path}: "
        text += self.message
        if self.expected:
            text += f" (expected: {self.expected})"
        return text


class LoadError(InvalidInput):
    """A file that cannot be turned into its model; ``problems`` lists why."""

    def __init__(self, file: str | Path, problems: list[Problem]) -> None:
        self.file = str(file)
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems) or f"{file}: cannot be loaded")


def format_path(parts: FieldPath) -> str:
    """``('purposes', 0, 'key')`` to ``purposes[0].key``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass
class SourceMap:
    """Where each value (and each mapping key) sits in the file."""

    file: str
    values: dict[FieldPath, Location] = field(default_factory=dict)
    keys: dict[FieldPath, Location] = field(default_factory=dict)

    def locate(self, parts: FieldPath, *, key: bool = False) -> Location | None:
        """The location of ``parts``, or of its nearest ancestor that exists."""
        parts = tuple(parts)
        while True:
            if key and parts in self.keys:
                return self.keys[parts]
            if parts in self.values:
                return self.values[parts]
            if not parts:
                return None
            parts = parts[:-1]

    def line_of(self, parts: FieldPath) -> int | None:
        loc = self.locate(parts, key=True)
        return loc.line if loc else None


@dataclass
class Document:
    """Plain Python data from YAML, with its source map."""

    data: Any
    source: SourceMap
    #: Problems found while reading that do not stop validation (an unset variable).
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Loaded(Generic[M]):
    """A validated model with the source map of the file it came from."""

    model: M
    source: SourceMap


# --------------------------------------------------------------------------- reading


def _location(node: Node) -> Location:
    mark = node.start_mark
    return Location(mark.line + 1, mark.column + 1)


class _Builder:
    """Turns a composed node graph into plain data, recording every node's mark."""

    def __init__(self, loader: yaml.SafeLoader, file: str, env: Mapping[str, str] | None) -> None:
        self.loader = loader
        self.source = SourceMap(file)
        self.env = env
        self.problems: list[Problem] = []
        self.count = 0
        self.stack: set[int] = set()

    def problem(self, node: Node, path: FieldPath, message: str, expected: str | None = None) -> None:
        loc = _location(node)
        self.problems.append(Problem(self.source.file, loc.line, loc.column, format_path(path), message, expected))

    def build(self, node: Node, path: FieldPath) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(node)
        self.source.values.setdefault(path, _location(node))
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.stack:
            self.problem(node, path, "an alias refers to itself (a recursive structure)")
            return None
        self.stack.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                return self.mapping(node, path)
            self.problem(node, path, f"unsupported YAML node {type(node).__name__}")
            return None
        finally:
            self.stack.discard(id(node))

    def scalar(self, node: ScalarNode, path: FieldPath) -> Any:
        try:
            value = self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError) as exc:  # e.g. the "timestamp" 2024-13-45
            self.problem(node, path, f"cannot read {node.value!r}: {exc}",
                         "quote the value if it is meant as text")
            return node.value
        if isinstance(value, str) and self.env is not None:
            m = ENV_PATTERN.match(value.strip())
            if m:
                var = m.group(1)
                if var not in self.env:
                    self.problem(node, path, f"environment variable {var} is not set",
                                 f"set {var} in the environment, or write the value itself")
                    return None
                return self.env[var]
        return value

    def mapping(self, node: MappingNode, path: FieldPath) -> dict[Any, Any]:
        if node.tag == "tag:yaml.org,2002:map":
            self.loader.flatten_mapping(node)  # YAML merge keys (<<: *base)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.build_key(key_node, path)
            if key is _BAD_KEY:
                continue
            if key in out:
                first = self.source.keys.get((*path, key))
                where = f" (first at line {first.line})" if first else ""
                self.problem(key_node, (*path, key), f"duplicate key {key!r}{where}",
                             "each key once per mapping")
                continue
            self.source.keys[(*path, key)] = _location(key_node)
            out[key] = self.build(value_node, (*path, key))
        return out

    def build_key(self, node: Node, path: FieldPath) -> Any:
        if not isinstance(node, ScalarNode):
            self.problem(node, path, "a mapping key must be a plain value, not a list or mapping")
            return _BAD_KEY
        key = self.loader.construct_object(node, deep=True)
        try:
            hash(key)
        except TypeError:
            self.problem(node, path, "a mapping key must be a plain value")
            return _BAD_KEY
        return key


_BAD_KEY = object()


class _TooBig(Exception):
    def __init__(self, node: Node) -> None:
        self.node = node


def _decode(raw: bytes, file: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LoadError(file, [Problem(file, line, None, "", f"the file is not UTF-8 text ({exc.reason})",
                                       "a UTF-8 encoded YAML file")]) from None


def _reader_problem(exc: yaml.reader.ReaderError, text: str, file: str) -> Problem:
    before = text[: exc.position]
    line = before.count("\n") + 1
    column = exc.position - (before.rfind("\n") + 1) + 1
    char = exc.character
    shown = f"#x{char:04x}" if isinstance(char, int) else repr(char)
    return Problem(file, line, column, "", f"character {shown} is not allowed in YAML",
                   "printable text")


def parse_document(text: str | bytes, file: str = "<string>",
                   env: Mapping[str, str] | None = None, *, strict: bool = True) -> Document:
    """Parse YAML text into plain data plus a :class:`SourceMap`.

    ``env`` is the mapping ``$env:VAR`` scalars are looked up in; ``None`` leaves such
    scalars as they are. With ``strict=False`` problems that leave usable data (an unset
    variable, a duplicate key) are returned in ``Document.problems`` instead of raised.
    """
    if isinstance(text, bytes):
        text = _decode(text, file)
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        raise LoadError(file, [_reader_problem(exc, text, file)]) from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.reader.ReaderError as exc:
            raise LoadError(file, [_reader_problem(exc, text, file)]) from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            message = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "invalid YAML"
            raise LoadError(file, [Problem(file, mark.line + 1 if mark else None,
                                           mark.column + 1 if mark else None, "",
                                           f"YAML syntax error: {message}", "well-formed YAML")]) from None
        if node is None:
            raise LoadError(file, [Problem(file, 1, 1, "", "the file is empty", "a YAML mapping")])
        builder = _Builder(loader, file, env)
        try:
            data = builder.build(node, ())
        except _TooBig as big:
            loc = _location(big.node)
            raise LoadError(file, [Problem(file, loc.line, loc.column, "",
                                           f"the document expands to more than {MAX_NODES} values "
                                           "(aliases nested too deep?)", "a reasonably sized file")]) from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            message = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "invalid YAML"
            raise LoadError(file, [*builder.problems,
                                   Problem(file, mark.line + 1 if mark else None,
                                           mark.column + 1 if mark else None, "", message)]) from None
        if builder.problems and strict:
            raise LoadError(file, builder.problems)
        return Document(data, builder.source, builder.problems)
    except LoadError:
        raise
    except RecursionError:
        raise LoadError(file, [Problem(file, None, None, "", "the document is nested too deeply")]) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, KeyError, AttributeError,
            IndexError, UnicodeError) as exc:
        # PyYAML raises plain ValueError for scalars it matches but cannot build,
        # e.g. the timestamp 2024-13-45.
        raise LoadError(file, [Problem(file, None, None, "", f"cannot read the YAML: {exc}")]) from None
    finally:
        loader.dispose()


def load_document(path: str | Path, env: Mapping[str, str] | None = None, *,
                  strict: bool = True) -> Document:
    """Read and parse a YAML file (see :func:`parse_document`)."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise LoadError(file, [Problem(file, None, None, "", f"cannot read the file: {exc.strerror or exc}",
                                       "a readable YAML file")]) from None
    return parse_document(raw, file, env, strict=strict)


# --------------------------------------------------------------------------- validating


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types inside Optional / Union / Annotated / list / dict."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _model_at(root: type[BaseModel], parts: FieldPath) -> type[BaseModel] | None:
    """The model class that the value at ``parts`` should be, if it is a model."""
    current: Any = root
    for part in parts:
        if isinstance(part, str) and part.startswith(("[", "function-")):
            continue
        candidates = _unwrap(current)
        nxt: Any = None
        for cand in candidates:
            origin = typing.get_origin(cand)
            if isinstance(part, int) and origin in (list, tuple, set, frozenset):
                nxt = typing.get_args(cand)[0]
                break
            if origin is dict:
                nxt = typing.get_args(cand)[1]
                break
            if isinstance(cand, type) and issubclass(cand, BaseModel) and isinstance(part, str):
                info = cand.model_fields.get(part)
                if info is not None:
                    nxt = info.annotation
                    break
        if nxt is None:
            return None
        current = nxt
    for cand in _unwrap(current):
        if isinstance(cand, type) and issubclass(cand, BaseModel):
            return cand
    return None


def _clean_loc(loc: tuple[int | str, ...]) -> FieldPath:
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith(("[", "function-"))))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPE_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list (lines starting with '- ')",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
    "date_type": "a date, YYYY-MM-DD",
    "date_parsing": "a date, YYYY-MM-DD",
    "date_from_datetime_parsing": "a date, YYYY-MM-DD",
    "date_from_datetime_inexact": "a date, YYYY-MM-DD",
    "datetime_type": "a date and time, YYYY-MM-DDTHH:MM:SS",
    "datetime_parsing": "a date and time, YYYY-MM-DDTHH:MM:SS",
    "greater_than_equal": "",
    "less_than_equal": "",
}


def _describe(err: ErrorDetails, root: type[BaseModel]) -> tuple[str, str | None, bool]:
    """(message, expected, points at the key) for one Pydantic error."""
    kind = err["type"]
    loc = _clean_loc(err["loc"])
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else ""
        model = _model_at(root, loc[:-1])
        valid = list(model.model_fields) if model else []
        close = difflib.get_close_matches(name, valid, n=3, cutoff=0.6)
        if close:
            return f"unknown field {name!r}, did you mean {' or '.join(repr(c) for c in close)}?", \
                "one of " + ", ".join(close), True
        return f"unknown field {name!r}", ("one of " + ", ".join(valid)) if valid else None, True
    if kind == "missing":
        name = str(loc[-1]) if loc else ""
        model = _model_at(root, loc[:-1])
        info = model.model_fields.get(name) if model else None
        desc = info.description if info and info.description else None
        return f"required field {name!r} is missing", desc, True
    if kind == "literal_error":
        allowed = str(ctx.get("expected", ""))
        options = re.findall(r"'([^']*)'", allowed)
        value = err.get("input")
        close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.6) if options else []
        hint = f", did you mean {close[0]!r}?" if close else ""
        return f"{_short(value)} is not allowed{hint}", "one of " + allowed.replace(" or ", ", "), False
    msg = err["msg"]
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
        if "ISO 8601 duration" in msg:
            return f"{_short(err.get('input'))} is not a duration", DURATION_EXPECTED, False
        return msg, None, False
    if kind in _TYPE_EXPECTED:
        expected = _TYPE_EXPECTED[kind] or None
        got = err.get("input")
        return f"{msg}, got {_short(got)} ({type(got).__name__})", expected, False
    return msg, None, False


def validate(document: Document, model: type[M]) -> M:
    """Validate parsed data against ``model``; errors become a located :class:`LoadError`."""
    src = document.source
    known = list(document.problems)
    if not isinstance(document.data, dict):
        top = src.locate(())
        raise LoadError(src.file, [*known, Problem(
            src.file, top.line if top else 1, top.column if top else 1, "",
            f"the file holds {type(document.data).__name__}, not a {model.__name__}",
            "a YAML mapping (key: value lines)")])
    try:
        result = model.model_validate(document.data)
    except ValidationError as exc:
        problems = list(known)
        seen = {p.path for p in known}
        for err in exc.errors(include_url=False):
            parts = _clean_loc(err["loc"])
            if err["type"] != "extra_forbidden" and format_path(parts) in seen:
                continue  # already explained (e.g. the unset variable behind this value)
            message, expected, at_key = _describe(err, model)
            where = src.locate(parts, key=at_key)
            problems.append(Problem(src.file, where.line if where else None, where.column if where else None,
                                    format_path(parts), message, expected))
        problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        raise LoadError(src.file, problems) from None
    if known:
        raise LoadError(src.file, known)
    return result


def load_model_located(path: str | Path, model: type[M], *, substitute_env: bool = True,
                       env: Mapping[str, str] | None = None) -> Loaded[M]:
    """Load and validate a YAML file, keeping where each value came from."""
    environ = (env if env is not None else os.environ) if substitute_env else None
    document = load_document(path, environ, strict=False)
    return Loaded(validate(document, model), document.source)


def load_model(path: str | Path, model: type[M], *, substitute_env: bool = True,
               env: Mapping[str, str] | None = None) -> M:
    """Load a YAML file into ``model``; raises :class:`LoadError` with file:line:col errors.

    ``$env:VAR`` scalars are replaced from ``env`` (default: the process environment);
    with ``substitute_env=False`` they are kept as written, for the caller to resolve later.
    """
    return load_model_located(path, model, substitute_env=substitute_env, env=env).model
