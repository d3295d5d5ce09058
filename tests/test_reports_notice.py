"""The privacy notice: every Art. 13/14 item, English and Polish, no English leaking into Polish."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file

from pledge.i18n import catalogue
from pledge.policy.load import load_policy
from pledge.policy.model import Policy
from pledge.reports import notice
from pledge.reports.notice import ART13, ART14, build_notice, render
from pledge.reports.words import duration_words
from tests.reports_support import ROOT, english_policy, example_or_sample, polish_policy, write_yaml

SOURCES = [ROOT / "src/pledge/reports/notice.py", ROOT / "src/pledge/reports/campaign.py"]


def _msgids() -> list[str]:
    out: list[str] = []
    for src in SOURCES:
        for _, msg, _, _ in extract_from_file("python", str(src), keywords={"_": None, "N_": None}):
            if isinstance(msg, str) and msg not in out:
                out.append(msg)
    return out


def _policy(platform: str, tmp_path: Path) -> Policy:
    pol, _ = example_or_sample(platform)
    if pol is None:
        sample = polish_policy() if platform == "onetagger" else english_policy()
        pol = write_yaml(tmp_path / "policy.yaml", sample)
    return load_policy(pol)


def test_every_template_string_has_a_polish_translation() -> None:
    ids = _msgids()
    assert len(ids) > 100
    pl = catalogue("pl", ("notice",))
    missing = [m for m in ids if not pl.get(m)]
    assert missing == []
    same = [m for m in ids if pl[m] == m]
    assert same == []
    # a translation uses no placeholder its English source does not fill
    for m in ids:
        assert set(re.findall(r"{(\w+)}", pl[m])) <= set(re.findall(r"{(\w+)}", m)), m


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_onetagger_polish_notice_is_polish_throughout(fmt: str, tmp_path: Path) -> None:
    text = render(_policy("onetagger", tmp_path), "pl", fmt)
    leaks = []
    for msgid in _msgids():
        # every literal run of three or more words of an English template
        for fragment in re.split(r"{\w+}", msgid):
            fragment = fragment.strip(" :;,.()\n-")
            if len(fragment.split()) >= 3 and fragment in text:
                leaks.append(fragment)
    assert leaks == []
    for phrase in ("Administratorem Twoich danych osobowych jest", "Podstawa prawna", "Przysługuje Ci prawo do",
                   "prawo do wniesienia skargi do"):
        assert phrase in text
    for english in ("You have the right", "Legal basis", "The controller", "Privacy notice"):
        assert english not in text


def test_polish_complaint_names_the_president_of_uodo_in_the_genitive(tmp_path: Path) -> None:
    text = render(Policy.model_validate(polish_policy()), "pl", "md")
    assert "prawo do wniesienia skargi do Prezesa Urzędu Ochrony Danych Osobowych (Prezesa UODO)" in text


def test_omni_one_english_notice_covers_every_article_13_item(tmp_path: Path) -> None:
    policy = _policy("omni-one", tmp_path)
    n = build_notice(policy, "en")
    assert set(ART13) <= n.articles
    assert set(ART14) <= n.articles
    text = notice.to_markdown(n)
    c = policy.controller
    assert c.name in text  # 13(1)(a)
    assert (c.email or "") in text
    dpo = n.section("dpo")  # 13(1)(b)
    assert dpo.blocks and "data protection officer" in dpo.blocks[0].text
    for p in policy.purposes:  # 13(1)(c)
        assert p.name in text
    for p in policy.purposes:
        if p.legal_basis == "legitimate_interests" and p.legitimate_interest:  # 13(1)(d)
            assert p.legitimate_interest in notice.to_markdown(n)
    for r in policy.recipients:  # 13(1)(e)
        assert r.name in text
    transfers = notice.to_markdown(n).split("## Transfers")[1].split("## ")[0]  # 13(1)(f)
    assert ("standard contractual clauses" in transfers or "adequacy decision" in transfers
            or "do not transfer" in transfers)
    for rule in policy.retention:  # 13(2)(a)
        if rule.period is not None and rule.period.approx_days > 0:
            assert f"{rule.name}: {duration_words(rule.period)}" in text
    for right in ("access", "corrected", "erased", "restrict", "machine-readable", "object"):  # 13(2)(b)
        assert right in n.section("rights").blocks[1].items.__str__()
    assert "withdraw it at any time" in text or "do not process any data on the basis of consent" in text
    assert "lodge a complaint" in text  # 13(2)(d)
    assert len(n.section("requirement").blocks[0].items) == len(policy.purposes)  # 13(2)(e)
    assert "automated" in n.section("automated").title.lower()  # 13(2)(f)


def test_markdown_and_html_render_the_same_sections() -> None:
    policy = Policy.model_validate(english_policy())
    md = render(policy, "en", "md")
    page = render(policy, "en", "html")
    n = build_notice(policy, "en")
    for s in n.sections:
        assert f"## {s.title}" in md
        assert f'id="{s.key}"' in page
    assert page.startswith("<!doctype html>") and 'lang="en"' in page
    with pytest.raises(ValueError):
        render(policy, "en", "pdf")


@pytest.mark.parametrize(("iso", "nom", "acc", "gen"), [
    ("P1Y", "1 rok", "1 rok", "1 roku"), ("P2Y", "2 lata", "2 lata", "2 lat"), ("P5Y", "5 lat", "5 lat", "5 lat"),
    ("P1M", "1 miesiąc", "1 miesiąc", "1 miesiąca"), ("P22M", "22 miesiące", "22 miesiące", "22 miesięcy"),
    ("PT1H", "1 godzina", "1 godzinę", "1 godziny"), ("P30D", "30 dni", "30 dni", "30 dni"),
])
def test_polish_durations_are_declined(iso: str, nom: str, acc: str, gen: str) -> None:
    from pledge.policy.duration import Duration

    d = Duration.parse(iso)
    assert (duration_words(d, "pl"), duration_words(d, "pl", "acc"), duration_words(d, "pl", "gen")) == (nom, acc, gen)


def test_notice_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pledge.cli import app
    from tests.reports_support import write_config

    cfg = write_config(tmp_path, polish_policy())
    out = tmp_path / "notice.md"
    res = CliRunner().invoke(app, ["report", "notice", "-c", str(cfg), "--lang", "pl", "--format", "md",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text(encoding="utf-8").startswith("# Informacja o przetwarzaniu danych osobowych")
    bad = CliRunner().invoke(app, ["report", "notice", "-c", str(cfg), "--lang", "de"])
    assert bad.exit_code == 2


@pytest.mark.parametrize("example", ["omni-one", "onestepai"])
def test_polish_controllers_notice_names_the_art_77_choice_of_authority(example: str) -> None:
    from pledge.policy.load import load_policy
    from pledge.reports.notice import render

    policy = load_policy(Path(__file__).resolve().parents[1] / "examples" / example / "policy.yaml")
    english = render(policy, "en", "md")
    polish = render(policy, "pl", "md")
    assert "UODO" in english and "Article 77 GDPR" in english and "where you live or" in english
    assert "art. 77 RODO" in polish and "w którym mieszkasz" in polish


def test_a_hidden_email_is_never_replaced_by_a_url() -> None:
    from pledge.policy.load import load_policy
    from pledge.reports.notice import render

    policy = load_policy(Path(__file__).resolve().parents[1] / "examples" / "onestepai" / "policy.yaml")
    assert policy.controller.email is None
    text = render(policy, "en", "md")
    assert "by email to http" not in text and "email to https" not in text
