"""Files in the data map: stores and key templates, loaded and checked with file:line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pledge.datamap.blobs import BlobTemplateError, KeyTemplate, override_variable, resolve_store_url
from pledge.datamap.load import dataset_to_yaml, load_dataset
from pledge.errors import NotConfigured
from pledge.yamlio import LoadError
from tests.conftest import EXAMPLES

DATASET = """\
name: shop
stores:
  - {name: uploads, url: blobs/uploads}
databases:
  - name: main
    collections:
      - name: files
        erasure: delete
        blobs:
          - store: uploads
            key: "KEY"
        fields:
          - {name: id, primary_key: true}
          - {name: owner_id, references: [{field: main.users.id}]}
      - name: users
        fields:
          - {name: id, primary_key: true, identity: user_id}
"""
KEY_LINE = 11  # the line of `key:` above


def _load(tmp_path: Path, key: str, text: str = DATASET) -> object:
    path = tmp_path / "dataset.yaml"
    path.write_text(text.replace("KEY", key), encoding="utf-8")
    return load_dataset(path)


@pytest.mark.parametrize(("example", "collection", "template"), [
    ("omni-one", "files", "uploads/{id}"), ("onestepai", "media", "media/{user_id}/{id}.png")])
def test_the_examples_declare_their_uploads(example: str, collection: str, template: str) -> None:
    dataset = load_dataset(EXAMPLES / example / "dataset.yaml")
    links = [(c.name, link.key, dataset.store(link.store).url) for _, c, link in dataset.blob_links()]
    assert links == [(collection, template, f"blobs/{'uploads' if example == 'omni-one' else 'media'}")]


@pytest.mark.parametrize("key", ["uploads/{id}", "uploads/{main.files.id}", "u/{owner_id}/{id}.bin",
                                 "owners/{owner_id}/", "{{literal}}/{id}"])
def test_good_templates_load(tmp_path: Path, key: str) -> None:
    dataset = _load(tmp_path, key)
    assert [link.key for _, _, link in dataset.blob_links()] == [key]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("key", "says"), [
    ("uploads/{name}", "{name} is not a field of collection 'files' (its fields: id, owner_id)"),
    ("uploads/{main.users.id}", "{main.users.id} names another collection"),
    ("uploads/{other.files.id}", "{other.files.id} names another collection"),
    ("uploads/all", "has no placeholder"),
    ("uploads/{id:05d}", "takes no format or conversion"),
    ("../{id}", "does not make a safe key"),
    ("/abs/{id}", "does not make a safe key"),
    ("uploads/{}", "must name a field"),
    ("uploads/{id", "write a literal brace"),
])
def test_bad_templates_are_refused_at_their_line(tmp_path: Path, key: str, says: str) -> None:
    with pytest.raises(LoadError) as caught:
        _load(tmp_path, key)
    text = str(caught.value)
    assert f"dataset.yaml:{KEY_LINE}:" in text, text
    assert says in text
    assert "blobs[0].key" in text


def test_an_undeclared_store_is_refused_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as caught:
        _load(tmp_path, "uploads/{id}", DATASET.replace("store: uploads", "store: photos"))
    assert "dataset.yaml:10:" in str(caught.value)
    assert "store 'photos' is not declared under stores: (uploads)" in str(caught.value)


def test_a_store_declared_twice_is_refused(tmp_path: Path) -> None:
    twice = DATASET.replace("  - {name: uploads, url: blobs/uploads}\n",
                            "  - {name: uploads, url: blobs/uploads}\n  - {name: uploads, url: s3://b}\n")
    with pytest.raises(LoadError, match="dataset.yaml:4:.*store 'uploads' is declared twice"):
        _load(tmp_path, "uploads/{id}", twice)


def test_stores_and_blobs_survive_a_round_trip_through_yaml(tmp_path: Path) -> None:
    dataset = _load(tmp_path, "u/{owner_id}/{id}.bin")
    again = tmp_path / "again.yaml"
    again.write_text(dataset_to_yaml(dataset), encoding="utf-8")  # type: ignore[arg-type]
    assert load_dataset(again) == dataset


def test_a_row_renders_its_key_or_says_why_not() -> None:
    template = KeyTemplate.parse("media/{user_id}/{day}/{id}.png")
    assert template.fields == ("user_id", "day", "id")
    assert template.render({"user_id": 7, "day": date(2026, 1, 2), "id": 31}).key == "media/7/2026-01-02/31.png"
    assert template.render({"user_id": None, "day": date(2026, 1, 2), "id": 1}).problem == "user_id is empty"
    assert template.render({"user_id": "../x", "day": "d", "id": 1}).key is None
    assert template.render({"user_id": "a/b", "day": "d", "id": 1}).key is None
    assert template.render({"user_id": 1, "id": 1}).problem == "the row has no field 'day'"
    assert KeyTemplate.parse("users/{id}/").is_prefix
    with pytest.raises(BlobTemplateError):
        KeyTemplate.parse("")


def test_a_deployment_moves_a_store_with_one_variable() -> None:
    assert override_variable("media-2") == "PLEDGE_BLOBS_MEDIA_2"
    assert resolve_store_url("media", "blobs/media", env={}) == "blobs/media"
    assert resolve_store_url("media", "blobs/media", env={"PLEDGE_BLOBS_MEDIA": "s3://b/p"}) == "s3://b/p"
    assert resolve_store_url("media", "$env:MEDIA_URL", env={"MEDIA_URL": "s3://m"}) == "s3://m"
    with pytest.raises(NotConfigured, match="MEDIA_URL is not set"):
        resolve_store_url("media", "$env:MEDIA_URL", env={})
