"""The home page speaks plainly: durations, bases, rights and clocks in words, EN and PL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pledge.engine import Engine
from pledge.policy.duration import Duration
from pledge.settings import Settings, load_config
from pledge.web.app import create_app
from pledge.web.i18n import catalogue, translator
from pledge.web.labels import (
    ACTION_LABELS,
    LEGAL_BASIS_LABELS,
    RIGHT_LABELS,
    TRIGGER_LABELS,
    period_words,
    trigger_label,
)
from tests.conftest import EXAMPLES


def client_for(example: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(environment="test", database_url=f"sqlite:///{tmp_path / 'store.db'}",
                        platform_url=f"sqlite:///{tmp_path / 'platform.db'}")
    engine = Engine(load_config(EXAMPLES / example / "pledge.yaml", settings), settings)
    with TestClient(create_app(engine)) as client:
        yield client
    engine.close()


@pytest.fixture
def omni(tmp_path: Path) -> Iterator[TestClient]:
    yield from client_for("omni-one", tmp_path)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize(("code", "en", "pl"), [
    ("P30D", "30 days", "30 dni"), ("P12M", "12 months", "12 miesięcy"), ("P1Y", "1 year", "1 rok"),
    ("P2Y", "2 years", "2 lata"), ("P5Y", "5 years", "5 lat"), ("P22M", "22 months", "22 miesiące"),
    ("P1M", "1 month", "1 miesiąc"), ("P0D", "without undue delay", "niezwłocznie"),
])
def test_periods_read_as_words_declined_in_polish(code: str, en: str, pl: str) -> None:
    assert period_words(Duration.parse(code), translator("en")) == en
    assert period_words(Duration.parse(code), translator("pl")) == pl


def test_every_label_has_a_polish_translation() -> None:
    polish = catalogue("pl")
    wanted = {*RIGHT_LABELS.values(), *LEGAL_BASIS_LABELS.values(), *ACTION_LABELS.values(),
              *TRIGGER_LABELS.values()}
    home = (Path(create_app.__code__.co_filename).parent / "templates" / "home.html").read_text()
    wanted |= set(re.findall(r'_\("([^"]+)"', home))
    assert sorted(w for w in wanted if w not in polish) == []


def test_trigger_words_fall_back_to_the_code() -> None:
    t = translator("pl")
    assert trigger_label("main.accounts.last_login_at", t) == "od ostatniego logowania"
    assert trigger_label("last_paid_at", t) is None


def test_home_in_english_says_periods_bases_and_clocks_in_words(omni: TestClient) -> None:
    page = omni.get("/?lang=en")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Midaz Group" in text
    assert "30 days" in text and "90 days" in text and "5 years" in text and "P30D" not in text
    assert "Contract (Art. 6(1)(b))" in text and "Consent (Art. 6(1)(a))" in text
    assert "from when the account is closed" in text and "anonymised" in text
    assert "Access to your data" in text and "Data portability" in text
    assert "We answer within 30 days" in text
    assert "What Pledge enforces here" in text
    for href in ("/privacy", "/admin", "/consent/demo", "/docs", "/notice?lang=en"):
        assert f'href="{href}"' in page.text


def test_home_in_polish_has_no_english_labels(omni: TestClient) -> None:
    text = text_of(omni.get("/?lang=pl").text)
    assert "30 dni" in text and "5 lat" in text and "od zamknięcia konta" in text
    assert "Umowa (art. 6 ust. 1 lit. b)" in text and "Dostęp do danych" in text
    assert "Odpowiadamy w ciągu 30 dni" in text and "Czego Pledge tu pilnuje" in text
    for english in ("legitimate interests", "Kept for", "from the last", "Access to your data", "Art. 6(1)"):
        assert english not in text


def test_onetagger_inactivity_clock_reads_from_the_last_login(tmp_path: Path) -> None:
    for client in client_for("onetagger", tmp_path):
        text = text_of(client.get("/?lang=pl").text)
        assert "12 miesięcy" in text and "od ostatniego logowania" in text
        assert "last_login_at" not in text


def test_recorded_breach_reasons_read_in_polish_and_officers_words_stay() -> None:
    from pledge.breach.report import default_consequences
    from pledge.web.recorded import translate_recorded

    t = translator("pl")
    reason = ("Art. 33(1): the breach is likely to result in a risk (high); the supervisory authority must be "
              "told within 72 hours of awareness.")
    assert translate_recorded(reason, t) == ("Art. 33 ust. 1: naruszenie może powodować ryzyko (ryzyko wysokie); "
                                             "organ nadzorczy trzeba zawiadomić w ciągu 72 godzin od jego "
                                             "stwierdzenia.")
    both = default_consequences(["user.content.private", "user.contact.email"])
    assert "; " in both and translate_recorded(both, t).startswith("ujawnienie prywatnych treści")
    assert translate_recorded("Bucket closed; keys rotated.", t) == "Bucket closed; keys rotated."
    assert translate_recorded(reason, translator("en")) == reason


def test_data_map_picture_speaks_polish(tmp_path: Path) -> None:
    from xml.etree import ElementTree

    from pledge.reports.datamap_svg import datamap_svg

    settings = Settings(environment="test", database_url=f"sqlite:///{tmp_path / 'store.db'}")
    engine = Engine(load_config(EXAMPLES / "omni-one" / "pledge.yaml", settings), settings)
    english = datamap_svg(engine.policy, engine.dataset)
    polish = datamap_svg(engine.policy, engine.dataset, "pl")
    ElementTree.fromstring(polish)  # still well-formed
    assert "Data categories" in english and "Processors and recipients" in english
    for word in ("Kategorie danych", "Podmioty przetwarzające i odbiorcy", "Stany Zjednoczone", "UE/EOG"):
        assert word in polish
    for word in ("Data categories", "third country", "legitimate interests", "not named in the policy"):
        assert word not in polish
