"""The traversal planner: pure, deterministic, and honest about what it cannot reach."""

from __future__ import annotations

from typing import Any

import pytest

from pledge.datamap.graph import DatamapGraphError, build_graph
from pledge.datamap.model import Dataset
from pledge.datamap.plan import PlanError, plan


def ref(target: str, direction: str = "from", discovered: bool = False) -> dict[str, Any]:
    return {"field": target, "direction": direction, "discovered": discovered}


def pk() -> dict[str, Any]:
    return {"name": "id", "primary_key": True}


def two_databases() -> Dataset:
    """An app database and a separate billing database, with one of each kind of edge."""
    return Dataset.model_validate({
        "name": "shop",
        "databases": [
            {"name": "app", "collections": [
                {"name": "users", "fields": [
                    {**pk(), "identity": "user_id"},
                    {"name": "email", "identity": "email", "categories": ["user.contact.email"]},
                    {"name": "phone", "identity": "phone"},
                    # users reach their profile row: direction "to"
                    {"name": "profile_id", "references": [ref("app.profiles.id", "to")]},
                ]},
                {"name": "profiles", "fields": [pk(), {"name": "bio"}]},
                {"name": "orders", "fields": [
                    pk(), {"name": "user_id", "references": [ref("app.users.id")]},
                ]},
                {"name": "order_lines", "fields": [
                    pk(), {"name": "order_id", "references": [ref("app.orders.id")]},
                    # a discovered FK: used for ordering only, never walked
                    {"name": "product_id", "references": [ref("app.products.id", discovered=True)]},
                ]},
                {"name": "products", "fields": [pk(), {"name": "name"}]},
                {"name": "newsletter", "fields": [pk(), {"name": "email", "identity": "email"}]},
                {"name": "sms_optin", "fields": [pk(), {"name": "msisdn", "identity": "phone"}]},
                {"name": "audit_trail", "fields": [pk(), {"name": "note"}]},
            ]},
            {"name": "billing", "collections": [
                {"name": "invoices", "fields": [
                    pk(),
                    {"name": "user_ref", "references": [ref("app.users.id")]},
                    {"name": "order_ref", "references": [ref("app.orders.id")]},
                ]},
            ]},
        ],
    })


def test_plan_reaches_across_databases_in_breadth_first_order() -> None:
    p = plan(two_databases(), ["email"])
    assert [(s.key, s.match, s.source, s.kind) for s in p.steps] == [
        ("app.users", "email", "email", "identity"),
        ("app.newsletter", "email", "email", "identity"),
        # derived: the phone and user id found on the person's own users row
        ("app.sms_optin", "msisdn", "app.users.phone", "derived"),
        ("app.orders", "user_id", "app.users.id", "reference"),
        ("billing.invoices", "user_ref", "app.users.id", "reference"),
        ("app.profiles", "id", "app.users.profile_id", "reference"),
        ("app.order_lines", "order_id", "app.orders.id", "reference"),
        ("billing.invoices", "order_ref", "app.orders.id", "reference"),
    ]
    assert "billing.invoices" in p.collections


def test_collection_reached_by_two_paths_gets_two_steps() -> None:
    p = plan(two_databases(), ["email"])
    sources = sorted(s.source for s in p.steps_for("billing.invoices"))
    assert sources == ["app.orders.id", "app.users.id"]


def test_unreachable_collections_are_listed() -> None:
    p = plan(two_databases(), ["email"])
    # products are only behind a discovered FK; audit_trail has no link at all
    assert p.unreachable == ("app.products", "app.audit_trail")


def test_discovered_reference_is_not_walked() -> None:
    p = plan(two_databases(), ["email"])
    assert not p.steps_for("app.products")
    graph = build_graph(two_databases())
    assert any(e.discovered and e.source.collection == "products" for e in graph.edges)


def test_direction_to_reverses_the_edge() -> None:
    p = plan(two_databases(), ["email"])
    (step,) = p.steps_for("app.profiles")
    assert (step.match, step.source) == ("id", "app.users.profile_id")
    # the source collection must carry profile_id forward for this step
    assert "profile_id" in p.carry["app.users"]


def test_carry_lists_primary_key_first_and_every_field_read_later() -> None:
    p = plan(two_databases(), ["email"])
    assert p.carry["app.users"][0] == "id"
    assert set(p.carry["app.users"]) >= {"id", "email", "phone", "profile_id"}
    assert p.carry["app.orders"] == ("id", "user_id")


def test_starting_from_phone_only() -> None:
    p = plan(two_databases(), ["phone"])
    first = [(s.key, s.kind) for s in p.steps[:2]]
    assert first == [("app.users", "identity"), ("app.sms_optin", "identity")]
    # the email is derived from the users row and reaches the newsletter
    assert [(s.source, s.kind) for s in p.steps_for("app.newsletter")] == [("app.users.email", "derived")]


def test_plan_is_deterministic() -> None:
    a = plan(two_databases(), ["email", "phone"]).to_dict()
    b = plan(two_databases(), ["email", "phone"]).to_dict()
    assert a == b


def test_a_non_user_reached_only_by_a_person_tag() -> None:
    ds = Dataset.model_validate({"name": "faces", "databases": [{"name": "main", "collections": [
        {"name": "users", "fields": [{**pk(), "identity": "user_id"}, {"name": "email", "identity": "email"}]},
        {"name": "media", "fields": [pk(), {"name": "user_id", "references": [ref("main.users.id")]}]},
        {"name": "face_tags", "fields": [
            pk(), {"name": "person_tag", "identity": "person_tag"},
            {"name": "media_id", "references": [ref("main.media.id", "to")]},
        ]},
    ]}]})
    p = plan(ds, ["person_tag"])
    assert [s.key for s in p.steps] == ["main.face_tags", "main.media"]
    # the uploader's account is not theirs: the media row does not lead back to users
    assert p.unreachable == ("main.users",)


def test_cycles_terminate_and_are_reported() -> None:
    ds = Dataset.model_validate({"name": "loop", "databases": [{"name": "main", "collections": [
        {"name": "a", "fields": [pk(), {"name": "email", "identity": "email"},
                                 {"name": "b_id", "references": [ref("main.b.id", "to")]}]},
        {"name": "b", "fields": [pk(), {"name": "a_id", "references": [ref("main.a.id")]}]},
    ]}]})
    p = plan(ds, ["email"])
    assert [(s.key, s.source) for s in p.steps] == [
        ("main.a", "email"), ("main.b", "main.a.id"), ("main.b", "main.a.b_id"),
    ]
    assert build_graph(ds).cycles() == []  # both edges run a -> b: no cycle
    ds2 = Dataset.model_validate({"name": "loop", "databases": [{"name": "main", "collections": [
        {"name": "a", "fields": [pk(), {"name": "email", "identity": "email"},
                                 {"name": "b_id", "references": [ref("main.b.id")]}]},
        {"name": "b", "fields": [pk(), {"name": "a_id", "references": [ref("main.a.id")]}]},
    ]}]})
    assert build_graph(ds2).cycles() == [["main.a", "main.b"]]
    assert [s.key for s in plan(ds2, ["email"]).steps] == ["main.a", "main.b", "main.a"]


def test_bad_identities_are_refused_clearly() -> None:
    with pytest.raises(PlanError, match="unknown identity kind 'ssn'"):
        plan(two_databases(), ["ssn"])
    with pytest.raises(PlanError, match="at least one identity"):
        plan(two_databases(), [])
    ds = Dataset.model_validate({"name": "x", "databases": [{"name": "main", "collections": [
        {"name": "a", "fields": [pk(), {"name": "email", "identity": "email"}]}]}]})
    with pytest.raises(PlanError, match="declares: email"):
        plan(ds, ["person_tag"])


def test_reference_to_an_unknown_field_is_an_error() -> None:
    ds = Dataset.model_validate({"name": "x", "databases": [{"name": "main", "collections": [
        {"name": "a", "fields": [pk(), {"name": "email", "identity": "email"},
                                 {"name": "z", "references": [ref("main.nowhere.id")]}]}]}]})
    with pytest.raises(DatamapGraphError, match="main.a.z: references 'main.nowhere.id'"):
        build_graph(ds)
