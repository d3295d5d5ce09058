"""Turning found rows into files: JSON-safe values, CSV per collection, a zip package."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from pledge.connectors.base import Row
from pledge.csvcells import writer as csv_writer


def jsonable(value: Any) -> Any:
    """A value as JSON can hold it: ISO times, exact decimals as strings, bytes as base64."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return str(value)


def json_rows(rows: list[Row]) -> list[dict[str, Any]]:
    return [{k: jsonable(v) for k, v in r.items()} for r in rows]


def csv_text(rows: list[Row], columns: list[str] | None = None) -> str:
    """One collection as CSV with a header; nested values as JSON; no cell a spreadsheet would run."""
    cols = columns or (list(rows[0]) if rows else [])
    buf = io.StringIO()
    writer = csv_writer(buf, lineterminator="\n")
    writer.writerow(cols)
    for r in rows:
        out = []
        for c in cols:
            v = jsonable(r.get(c))
            out.append("" if v is None else json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v)
        writer.writerow(out)
    return buf.getvalue()


def csv_name(collection: str) -> str:
    return f"csv/{collection}.csv"


#: Members shorter than this are stored as they are, larger ones deflated: setting up the
#: compressor costs about 50 µs a member, more than a few hundred bytes saved are worth (#19:
#: a typical access package has five small CSV files).
STORE_BELOW = 2048


def write_zip(out: Path | io.BytesIO, files: Mapping[str, str | bytes]) -> None:
    """Write ``{name: content}`` into a zip, deflated but for small members (the parent
    folder is created)."""
    if isinstance(out, Path):
        out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content, compress_type=zipfile.ZIP_STORED if len(content) < STORE_BELOW else None)


_compact = json.JSONEncoder(ensure_ascii=False, default=jsonable).encode


def dumps(data: Any) -> str:
    """JSON for a person to read too: objects indented two spaces a level, and each object in a
    list (a row, a purpose) on a line of its own. The lines are encoded by the json module's C
    encoder; ``json.dumps(indent=…)`` runs in Python, about twice as slow for a package (#19)."""
    return _pretty(data, "")


def _pretty(value: Any, pad: str) -> str:
    inner = pad + "  "
    if isinstance(value, Mapping) and value and all(isinstance(k, str) for k in value):
        return "{\n" + ",\n".join(f"{inner}{_compact(k)}: {_pretty(v, inner)}" for k, v in value.items()) \
            + "\n" + pad + "}"
    if isinstance(value, list | tuple) and any(isinstance(v, Mapping | list | tuple) for v in value):
        return "[\n" + ",\n".join(inner + (_compact(v) if isinstance(v, Mapping) else _pretty(v, inner))
                                   for v in value) + "\n" + pad + "]"
    return _compact(value)
