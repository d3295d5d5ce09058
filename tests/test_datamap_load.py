"""Native dataset.yaml loading: validators and file:line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pledge.datamap.detect import by_name, by_values, is_card, is_person_name, is_phone, luhn_ok
from pledge.datamap.load import dataset_to_yaml, load_dataset
from pledge.datamap.types import compatible, declared_family
from pledge.yamlio import LoadError
from tests.datamap_support import shop_dataset

NATIVE = """\
name: tiny
databases:
  - name: main
    url: $env:TINY_DB_URL
    collections:
      - name: users
        fields:
          - name: id
            primary_key: true
            identity: user_id
          - name: email
            categories: [user.contact.email]
            identity: email
      - name: posts
        erasure: delete
        fields:
          - name: id
            primary_key: true
          - name: user_id
            references:
              - field: users.id
"""


def _load(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dataset.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_native_dataset_loads_and_completes_short_references(tmp_path: Path) -> None:
    ds = load_dataset(_load(tmp_path, NATIVE))
    assert ds.database("main").url == "$env:TINY_DB_URL"  # kept for the engine to resolve later
    [ref] = ds.database("main").collection("posts").field("user_id").references
    assert ref.field == "main.users.id" and ref.target == ("main", "users", "id")
    assert [f"{d.name}.{c.name}.{f.name}" for d, c, f in ds.identities()] == ["main.users.id", "main.users.email"]
    assert ds.has("main.posts") and ds.has("main.posts.user_id") and not ds.has("main.posts.title")


@pytest.mark.parametrize(("old", "new", "marker", "words"), [
    ("categories: [user", "categorys: [user", "categorys", "unknown field 'categorys', did you mean 'categories'"),
    ("field: users.id", "field: id", "field: id", "must name db.collection.field"),
    ("erasure: delete", "erasure: shred", "shred", "'shred' is not allowed"),
    ("identity: email", "identity: mail", "identity: mail", "'mail' is not allowed"),
    ("      - name: posts", "      - name: users", "  - name: main", "declares collection(s) twice: users"),
    ("          - name: user_id", "          - name: user.id", "name: user.id", "without dots"),
])
def test_bad_dataset_errors_name_file_line_and_field(tmp_path: Path, old: str, new: str, marker: str,
                                                     words: str) -> None:
    assert old in NATIVE
    text = NATIVE.replace(old, new, 1)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if marker in row)
    path = _load(tmp_path, text)
    with pytest.raises(LoadError) as info:
        load_dataset(path)
    message = str(info.value)
    assert f"{path}:{line}:" in message, message
    assert words in message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = _load(tmp_path, NATIVE.replace("      - name: posts", "      - name: [posts", 1))
    with pytest.raises(LoadError, match=r"dataset.yaml:1[56]:\d+: YAML syntax error"):
        load_dataset(path)


def test_dataset_to_yaml_round_trips(tmp_path: Path) -> None:
    ds = shop_dataset()
    path = _load(tmp_path, dataset_to_yaml(ds))
    again = load_dataset(path)
    assert again == ds


# -- detection and type families: small, direct checks ----------------------------------
def test_luhn_and_card_numbers() -> None:
    assert luhn_ok("4539578763621486") and not luhn_ok("4539578763621487")
    assert is_card("4539 5787 6362 1486") and not is_card("4539 5787 6362 1487")
    assert not is_card("0000000000000000")  # passes Luhn, but is not a card
    assert not is_card("12345")


def test_phone_and_person_name_predicates() -> None:
    assert is_phone("+48 500 100 200") and is_phone("(555) 010-9999") and is_phone("0116 496 0251")
    assert not is_phone("123456789")  # a bare number is an id or an amount
    assert not is_phone("2024-01-31")
    assert is_person_name("Anna Kowalska") and is_person_name("Dr. John Smith")
    assert not is_person_name("Quarterly Report") and not is_person_name("anna kowalska")


def test_name_rules_use_the_table_for_a_bare_name() -> None:
    assert by_name("users", "name") is not None
    assert by_name("workspaces", "name") is None
    hit = by_name("invoices", "billing_name")
    assert hit is not None and hit.category == "user.name"
    assert by_name("orders", "total") is None
    assert by_name("marketing_preferences", "email_opt_in") is None
    for column in ("email", "e_mail", "visitor_email", "email_address", "contact_email"):
        found = by_name("anything", column)
        assert found is not None and found.category == "user.contact.email", column
    ip = by_name("login_sessions", "ip_address")
    assert ip is not None and ip.category == "user.device.ip_address"


def test_value_rules_need_most_values_to_match() -> None:
    emails = [f"person{i}@example.com" for i in range(4)]
    assert by_values(emails + ["n/a"] * 2) is not None  # 4 of 6
    assert by_values(emails[:2] + ["n/a"] * 4) is None  # 2 of 6
    assert by_values(emails[:2]) is None  # too few to judge


def test_type_families() -> None:
    assert declared_family("varchar(255)") == "string"
    assert declared_family("timestamp with time zone") == "datetime"
    assert declared_family("string[]") == "array"
    assert declared_family("widget") is None
    assert compatible("boolean", "integer") and compatible("json", "string")
    assert not compatible("integer", "string") and not compatible("date", "boolean")
