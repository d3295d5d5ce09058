"""The access package a person reads: a real package for a person of a generated omni-one
platform, its index.html compared with plain SQL on the platform database (written here,
independent of the locator), in English and in Polish, every value escaped."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.dates import format_date
from markupsafe import escape
from sqlalchemy import create_engine, text

from pledge.rights.access import access, write_access_zip
from pledge.rights.access_view import described
from tests.requests_support import START, Clock, make_engine
from tests.web_support import copy_platform, make_platform

ATTACK = '<script>alert("x")</script> Ann & <b>Co</b>'


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_platform(tmp_path_factory.mktemp("omni") / "site", users=20)


@pytest.fixture
def platform(template: Path, tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    cfg = copy_platform(template, tmp_path / "site")
    engine = make_engine(cfg, Clock(START), 1, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    yield engine, cfg
    engine.close()


def esc(value: str) -> str:
    return str(escape(value))


def sql(cfg: Path, query: str, **params: Any) -> list[tuple[Any, ...]]:
    eng = create_engine(f"sqlite:///{cfg.parent / 'platform.db'}")
    with eng.begin() as conn:
        result = conn.execute(text(query), params)
        out = [tuple(r) for r in result] if result.returns_rows else []
    eng.dispose()
    return out


def a_person(cfg: Path) -> tuple[int, str]:
    """An active user who wrote messages and signed in from a device."""
    uid, email = sql(cfg, """SELECT u.id, u.email FROM users u WHERE u.status = 'active'
        AND EXISTS (SELECT 1 FROM messages m WHERE m.author_id = u.id)
        AND EXISTS (SELECT 1 FROM login_sessions s WHERE s.user_id = u.id)
        AND EXISTS (SELECT 1 FROM devices d WHERE d.user_id = u.id) ORDER BY u.id LIMIT 1""")[0]
    return int(uid), str(email)


def package(engine: Any, email: str, lang: str) -> dict[str, str]:
    buf = io.BytesIO()
    write_access_zip(engine, {"email": email}, buf, lang=lang)
    with zipfile.ZipFile(buf) as zf:
        return {n: zf.read(n).decode() for n in zf.namelist()}


@pytest.mark.parametrize("lang", ["en", "pl"])
def test_index_shows_the_persons_values_as_the_database_holds_them(platform: tuple[Any, Path], lang: str) -> None:
    engine, cfg = platform
    uid, email = a_person(cfg)
    sql(cfg, "UPDATE users SET name = :n WHERE id = :u", n=ATTACK, u=uid)
    files = package(engine, email, lang)
    page = files["index.html"]
    assert f'<html lang="{lang}">' in page

    # every value, as the database holds it, appears escaped
    (birth,) = sql(cfg, "SELECT birth_date FROM users WHERE id = :u", u=uid)[0]
    from datetime import date
    assert format_date(date.fromisoformat(str(birth)[:10]), "long", locale=lang) in page
    assert esc(email) in page
    assert esc(ATTACK) in page and "<script>alert" not in page and "<b>Co</b>" not in page
    contents = sql(cfg, """SELECT content FROM messages WHERE author_id = :u OR conversation_id IN
                           (SELECT id FROM conversations WHERE user_id = :u)""", u=uid)
    assert contents
    for (content,) in contents:
        assert esc(str(content)) in page, content
    for (ip,) in sql(cfg, "SELECT ip_address FROM login_sessions WHERE user_id = :u", u=uid):
        assert esc(str(ip)) in page
    for (device,) in sql(cfg, "SELECT device_id FROM devices WHERE user_id = :u", u=uid):
        assert esc(str(device)) in page
    n_messages = len(contents)
    caption = "Wiadomości" if lang == "pl" else "Messages"
    assert f"<caption>{caption} ({n_messages})</caption>" in page

    # no raw timestamps, no taxonomy codes as labels, nothing "not described"
    assert "T09:00:00" not in page and "user.contact.email" not in page
    for words in ("not described in the policy", "does not describe", "nie opisuje"):
        assert words not in page
    if lang == "pl":
        for words in ("Data urodzenia", "Do czego ich używamy:", "Twoje prawa", "Pliki w tej paczce",
                      "Prezes Urzędu Ochrony Danych Osobowych"):
            assert words in page, words
        for english in ("What we hold", "Why we use it", "Your rights", "Files in this package", "Recorded",
                        "Date of birth", "Email address"):
            assert f">{english}" not in page, english
    else:
        for words in ("Date of birth", "Why we use it:", "Your rights", "Complaints"):
            assert words in page

    # the machines' copies beside it
    data = json.loads(files["data.json"])
    assert data["collections"]["main.users"]["rows"][0]["name"] == ATTACK
    assert "csv/main.messages.csv" in files and "csv/main.users.csv" in files
    assert 'href="data.json"' in page and 'href="csv/main.messages.csv"' in page


def test_every_field_of_the_persons_data_has_a_described_category(platform: tuple[Any, Path]) -> None:
    engine, cfg = platform
    for _, email in sql(cfg, "SELECT id, email FROM users ORDER BY id LIMIT 8"):
        export = access(engine, {"email": email})
        assert export.information["undeclared_categories"] == []
        for key, rows in export.located.rows.items():
            db_name, coll_name = key.split(".", 1)
            for f in engine.dataset.database(db_name).collection(coll_name).fields:
                if not any(r.get(f.name) is not None for r in rows):
                    continue
                for cat in f.categories:
                    found = described(engine.policy, cat)
                    assert found is not None and (found.description or found.name), (key, f.name, cat)
                    assert "pl" in found.translations, (key, f.name, cat)


@pytest.mark.parametrize("lang", ["en", "pl"])
def test_values_are_shown_as_babel_formats_them(lang: str) -> None:
    """#19: ``shown`` applies each language's patterns parsed once; what it writes is what
    babel's own ``format_datetime`` / ``format_date`` / ``format_time`` write for the same
    value (UTC; a naive value is taken as UTC, an aware one is converted)."""
    import random
    from datetime import UTC, date, datetime, time, timedelta, timezone

    from babel.dates import format_datetime, format_time

    from pledge.i18n import translator
    from pledge.rights.access_view import shown

    t = translator(lang, ("access", "core"))
    rnd = random.Random(7)
    warsaw = timezone(timedelta(hours=1))
    for _ in range(400):
        moment = datetime(rnd.randint(1970, 2040), rnd.randint(1, 12), rnd.randint(1, 28), rnd.randint(0, 23),
                          rnd.randint(0, 59), rnd.randint(0, 59), rnd.randint(0, 999999))
        for value in (moment, moment.replace(tzinfo=UTC), moment.replace(tzinfo=warsaw)):
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)
            assert shown(value, lang, t) == format_datetime(aware, "medium", tzinfo=UTC, locale=lang), value
        day = date(moment.year, moment.month, moment.day)
        assert shown(day, lang, t) == format_date(day, "long", locale=lang)
        clock = time(moment.hour, moment.minute, moment.second)
        assert shown(clock, lang, t) == format_time(clock, "short", locale=lang)
