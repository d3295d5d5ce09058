"""data.json as written by :func:`pledge.rights.export.dumps`: exactly the document, laid out for
a person to read (objects indented, one line per object in a list), whatever the values."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pledge.rights.export import STORE_BELOW, dumps, jsonable, write_zip

leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
documents = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_the_document_reads_back_as_it_was_given(doc: Any) -> None:
    assert json.loads(dumps(doc)) == json.loads(json.dumps(doc))


def test_values_json_cannot_hold_are_written_as_the_package_writes_them() -> None:
    doc = {"at": datetime(2026, 12, 7, 10, 30, tzinfo=UTC), "total": Decimal("12.50"), "raw": b"\x00\xff",
           "keys": {1: "one"}, "name": "Zażółć \"gęślą\"\njaźń"}
    assert json.loads(dumps(doc)) == json.loads(json.dumps(doc, default=jsonable))


def test_each_row_is_a_line_of_its_own_and_the_structure_is_indented() -> None:
    rows = [{"id": 1, "city": "Łódź"}, {"id": 2, "city": "Kraków"}]
    text = dumps({"collections": {"shop.addresses": {"count": 2, "rows": rows}}, "empty": [], "none": {}})
    assert text.splitlines() == [
        "{",
        '  "collections": {',
        '    "shop.addresses": {',
        '      "count": 2,',
        '      "rows": [',
        '        {"id": 1, "city": "Łódź"},',
        '        {"id": 2, "city": "Kraków"}',
        "      ]",
        "    }",
        "  },",
        '  "empty": [],',
        '  "none": {}',
        "}",
    ]


def test_a_package_stores_its_small_members_deflates_the_large_and_reads_back_whole() -> None:
    """#19: deflating a member costs a compressor each; small ones are stored as they are."""
    files: dict[str, str | bytes] = {"small.csv": "a,b\n1,2\n", "edge.csv": "x" * (STORE_BELOW - 1),
                                     "over.csv": "x" * STORE_BELOW,
                                     "large.html": "<p>Zażółć</p>\n" * 400, "blob.bin": bytes(range(256)) * 20}
    out = io.BytesIO()
    write_zip(out, files)
    with zipfile.ZipFile(out) as z:
        kinds = {i.filename: i.compress_type for i in z.infolist()}
        assert {n: z.read(n) for n in files} == {n: c.encode() if isinstance(c, str) else c for n, c in files.items()}
    assert kinds == {"small.csv": zipfile.ZIP_STORED, "edge.csv": zipfile.ZIP_STORED,
                     "over.csv": zipfile.ZIP_DEFLATED, "large.html": zipfile.ZIP_DEFLATED,
                     "blob.bin": zipfile.ZIP_DEFLATED}
