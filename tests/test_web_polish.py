"""Polish pages hold no English (#17), for every example platform and every page.

For each of the three examples (omni-one and onestepai are written in English and translated
into Polish; onetagger is written in Polish and translated into English) a small platform is
generated and given something on every page: requests of each kind (one a partial erasure
that kept records under an exemption, one a finished access request), an officer's request,
a breach, a notice campaign, consent links. Every page of the site, the console and the
banner's words are then read in Polish over HTTP, and none may hold

- an English sentence of Pledge's catalogues (a msgid whose Polish differs), or
- an English word of the policy that people see (an entry's name, description, legitimate
  interest, withdrawal, service, law, retention, note or statement; a cookie's purpose,
  provider or duration) — the policy's own words for an English policy, the English
  translations for a Polish one.

The readable access package (``index.html`` of the zip) is read too. Removing one
``translations: pl`` from an example's policy makes this fail.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from pledge.consent.unsubscribe import preferences_token, unsubscribe_token
from pledge.policy.localize import seen_words
from pledge.policy.model import Policy
from pledge.reports.campaign import Campaigns
from pledge.rights.request_input import objectable_purposes
from pledge.web.center_form import field_inputs
from pledge.web.i18n import catalogue, translator
from tests.web_support import Site, code_for, make_platform, site

PEOPLE = {"omni-one": "users", "onestepai": "users", "onetagger": "accounts"}
#: people who verify by an email code alone (an organisation's members go to its administrator)
ALONE = {"onestepai": " AND organisation_id IS NULL"}
#: the table of records kept under an exemption, and its link to the person's table
KEPT = {"omni-one": ("invoices", "user_id"), "onestepai": ("invoices", "user_id"),
        "onetagger": ("payments", "account_id")}
VALUES = {"date": "1990-05-17", "email": "nowy.adres@example.org", "tel": "+48 500 100 200", "number": "42",
          "yesno": "yes", "text": "Anna Nowak-Kowalska"}


def catalogue_english() -> list[str]:
    """English msgids of every catalogue (site and console) whose Polish is different."""
    out = set()
    for domains in (None, ("admin", "console")):
        words = catalogue("pl") if domains is None else catalogue("pl", domains)
        for msgid, msgstr in words.items():
            fixed = msgid.split("{")[0].strip()  # the fixed part before any placeholder
            if msgstr != msgid and len(fixed.split()) >= 3:
                out.add(fixed)
    return sorted(out)


def policy_english(policy: Policy) -> list[str]:
    """The policy's words people see, in English, that a Polish page must not show."""
    out = set()
    other_language = "pl" if policy.language == "en" else "en"
    for _place, _field, written, translated in seen_words(policy, other_language):
        english, polish = (written, translated) if policy.language == "en" else (translated, written)
        if english and english != polish and (len(english.split()) >= 2 or len(english) >= 6):
            out.add(english)
    return sorted(out)


def shown(page: str) -> str:
    """The text a reader sees: no scripts or styles, and no mail (the mailbox's mails are in their
    recipients' languages; a breach notice's draft in the language chosen for it)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    page = re.sub(r'<article class="mail.*?</article>', " ", page, flags=re.S)
    page = re.sub(r'<div class="mail-draft" lang="en">.*?</div>', " ", page, flags=re.S)  # a notice in English
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page.replace("<wbr>", ""))))


def sql_one(cfg: Path, query: str) -> str:
    eng = create_engine(f"sqlite:///{cfg.parent / 'platform.db'}")
    with eng.connect() as conn:
        value = conn.execute(text(query)).scalar_one()
    eng.dispose()
    return str(value)


def emails(cfg: Path, example: str, n: int) -> list[str]:
    eng = create_engine(f"sqlite:///{cfg.parent / 'platform.db'}")
    with eng.connect() as conn:
        rows = conn.execute(text(f"SELECT email FROM {PEOPLE[example]} WHERE status = 'active'"
                                 f"{ALONE.get(example, '')} ORDER BY id")).scalars().all()
    eng.dispose()
    return [str(r) for r in rows if str(r).isascii()][:n]  # the mail sink speaks no SMTPUTF8


@dataclass
class Seeded:
    s: Site
    example: str
    ids: dict[str, str]
    links: dict[str, str]


def verified(s: Site, email: str, kind: str, lang: str = "pl", **params: object) -> str:
    view = s.engine.requests.create(kind, {"email": email}, params=params or None, lang=lang)
    s.engine.requests.start_verification(view.id)
    s.engine.requests.verify_code(view.id, code_for(s.sink, email))
    return s.engine.requests.after_verified(view.id, "subject").id


def seed(s: Site, example: str) -> Seeded:
    engine = s.engine
    e = emails(s.cfg, example, 8)
    table, link = KEPT[example]
    with_kept = sql_one(s.cfg, f"SELECT p.email FROM {PEOPLE[example]} p JOIN {table} k ON k.{link} = p.id "
                               f"WHERE p.status = 'active'{ALONE.get(example, '').replace(' org', ' p.org')} "
                               "AND p.email NOT GLOB '*[^ -~]*' ORDER BY k.issued_at DESC LIMIT 1")
    t = translator("pl")
    first = field_inputs(engine, t)[0]
    ids = {"partial": verified(s, with_kept, "erasure", details="Proszę usunąć moje konto."),
           "access": verified(s, e[0], "access"),
           "rectification": verified(s, e[1], "rectification", changes={first.name: VALUES[first.input]},
                                     details="Zmiana po ślubie."),
           # made in English, read on a Polish console: the console speaks the reader's language
           "objection": verified(s, e[2], "objection", "en", purpose=objectable_purposes(engine.policy)[0][0]),
           "erasure": verified(s, e[3], "erasure")}
    engine.requests.approve(ids["partial"], actor="admin:0")
    engine.requests.approve(ids["access"], actor="admin:0")
    assert engine.requests.get(ids["partial"]).state == "partially_completed"
    ids["officer"] = engine.requests.open_on_initiative(
        "erasure", {"email": e[4]}, ground="child_under_minimum_age", note="Data urodzenia wskazuje 12 lat",
        actor="admin:0", evidence="List rodzica", lang="pl").id
    now = engine.now()
    collection = next(f"{db.name}.{c.name}" for db in engine.dataset.databases for c in db.collections
                      if any(f.categories for f in c.fields))
    breach = engine.breaches.open(title="Publiczny eksport", aware_at=now - timedelta(hours=20),
                                  collections=[collection], window_from=datetime(2024, 1, 1, tzinfo=UTC),
                                  window_to=now - timedelta(days=1), description="Opis.", actor="officer")
    engine.breaches.assess(breach.id, likelihood="high", severity="high", encrypted=False, measures="Zamknięte.",
                           actor="officer")
    ids["breach"] = str(breach.id)
    campaigns = Campaigns(engine)
    cid = campaigns.start("policy_change", reconsent=True, details={"version": "2099-01", "sections": ["retention"]})
    consent = next(p.key for p in engine.policy.purposes if p.consent_required or p.legal_basis == "consent")
    links = {"accept": campaigns.accept_token(cid, e[5]), "preferences": preferences_token(engine, e[5]),
             "unsubscribe": unsubscribe_token(engine, e[5], consent)}
    return Seeded(s, example, ids, links)


@pytest.fixture(scope="module", params=sorted(PEOPLE))
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    example = str(request.param)
    folder = tmp_path_factory.mktemp(f"polish-{example}")
    template = make_platform(folder / "template", users=40, example=example)
    with site(template, folder / "site") as one:
        yield seed(one, example)


def public_pages(x: Seeded) -> list[str]:
    svc, ids, links = x.s.engine.requests, x.ids, x.links
    from pledge.web.center import offered_kinds

    return ["/", "/notice", f"/notice/accept?token={links['accept']}", "/notice/accept?token=cut-short",
            f"/preferences/{links['preferences']}", f"/unsubscribe/{links['unsubscribe']}", "/consent/demo",
            "/no-such-page", "/privacy", *[f"/privacy/new/{k}" for k in offered_kinds(x.s.engine)],
            f"/privacy/status/{ids['partial']}?token={svc.status_token(ids['partial'])}",
            f"/privacy/status/{ids['access']}?token={svc.status_token(ids['access'])}",
            f"/privacy/requests/{ids['erasure']}", "/dev/mail", "/admin/login"]


def console_pages(x: Seeded) -> list[str]:
    ids, b = x.ids, x.ids["breach"]
    return ["/admin", "/admin?kind=erasure&due=30&regime=gdpr", "/admin?due=-1&state=nope",
            *[f"/admin/requests/{ids[k]}" for k in ("partial", "access", "rectification", "objection", "erasure",
                                                     "officer")],
            f"/admin/requests/{ids['erasure']}/approve", "/admin/requests/req_nothing_here",
            "/admin/breaches", "/admin/breaches/new", f"/admin/breaches/{b}", f"/admin/breaches/{b}/people",
            "/admin/datamap", "/admin/metrics", "/admin/prove"]


def english_on(page: str, banned: list[str]) -> list[str]:
    words = shown(page)
    return [w for w in banned if w in words]


def test_every_page_of_every_example_is_polish(seeded: Seeded) -> None:
    s = seeded.s
    policy_words = policy_english(s.engine.policy)
    assert policy_words, "the policy shows no words? the check would prove nothing"
    banned = catalogue_english() + policy_words
    client = s.new_client()
    client.headers["Accept"] = "text/html"  # a browser: error pages too are pages
    found: dict[str, list[str]] = {}
    for path in public_pages(seeded):
        res = client.get(path + ("&" if "?" in path else "?") + "lang=pl")
        assert res.status_code in (200, 400, 403, 404), (path, res.status_code)
        assert '<html lang="pl"' in res.text, path
        if left := english_on(res.text, banned):
            found[path] = left
    s.clock.advance(seconds=31)
    assert s.login(client, "owner").status_code == 303
    for path in console_pages(seeded):
        res = client.get(path + ("&" if "?" in path else "?") + "lang=pl")
        assert res.status_code in (200, 404, 422), (path, res.status_code)
        if left := english_on(res.text, banned):
            found[path] = left
    # the banner's words in Polish (the script builds the dialog from them)
    config = client.get("/v1/consent/config").json()
    words = " ".join([*config["texts"]["pl"].values(), *[
        " ".join(filter(None, [c["words"]["pl"]["name"] or "", c["words"]["pl"]["description"] or "",
                               *[" ".join(filter(None, k.values())) for k in c["words"]["pl"]["cookies"]]]))
        for c in config["categories"]]])
    if left := [w for w in banned if w in words]:
        found["banner"] = left
    # the readable access package of a Polish request
    package = zipfile.ZipFile(io.BytesIO(client.get(f"/admin/requests/{seeded.ids['access']}/download").content))
    if left := english_on(package.read("index.html").decode("utf-8"), banned):
        found["package index.html"] = left
    report = "\n".join(f"{path}: {left}" for path, left in found.items())
    assert found == {}, f"{seeded.example}: English on Polish pages:\n{report}"


def test_the_check_can_fail(seeded: Seeded) -> None:
    """Drop one Polish translation from the live policy: its English shows and is caught."""
    engine = seeded.s.engine
    if engine.policy.language != "en":
        pytest.skip("the policy is written in Polish: there is no Polish translation to drop")
    purpose = next(p for p in engine.policy.purposes if "pl" in p.translations)
    saved = purpose.translations.pop("pl")  # type: ignore[arg-type]
    try:
        res = seeded.s.new_client().get("/notice?lang=pl")
        assert purpose.name in english_on(res.text, policy_english(engine.policy))
    finally:
        purpose.translations["pl"] = saved  # type: ignore[index]


def test_lint_names_a_translation_that_leaves_words_out() -> None:
    """``pledge check`` (PL100) says the same before any page is shown: every example is complete,
    and a translation without its description is named."""
    from pledge.policy.lint import lint_policy
    from pledge.policy.load import load_policy
    from tests.conftest import EXAMPLES

    for name in sorted(PEOPLE):
        policy = load_policy(EXAMPLES / name / "policy.yaml")
        assert [f.message for f in lint_policy(policy).findings if f.code == "PL100"] == [], name
    policy = load_policy(EXAMPLES / "onestepai" / "policy.yaml")
    recipient = next(r for r in policy.recipients if r.key == "payment_processor")
    recipient.translations["pl"].service = None  # type: ignore[index]
    found = [f.message for f in lint_policy(policy).findings if f.code == "PL100"]
    assert found == ["recipients 'payment_processor' is translated into 'pl' without its service"]
