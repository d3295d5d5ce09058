"""OneTagger's promises (examples/onetagger/PROMISES.md) that no feature test proves on this
platform: each test reads the example's own policy.yaml and dataset.yaml, and the
behavioural ones run against a small generated onetagger platform (SQLite, Faker)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

from faker import Faker
from sqlalchemy import create_engine, text

from pledge.datamap.load import load_dataset
from pledge.platforms import get_platform
from pledge.policy.lint import lint_policy
from pledge.policy.load import load_policy, load_policy_located
from pledge.policy.model import Policy
from pledge.reports.notice import render
from pledge.reports.ropa import build_ropa, to_csv
from pledge.rights.access import write_access_zip
from pledge.rights.erasure import erase
from pledge.rights.restrict import object_to
from tests.conftest import EXAMPLES
from tests.requests_support import START, Clock, deployment, mails_to, make_engine, smtp_sink
from tests.test_consent_platforms import person, platform_engine

HERE = EXAMPLES / "onetagger"


def policy() -> Policy:
    return load_policy(HERE / "policy.yaml")


def rows(cfg: Path, sql: str, **params: Any) -> list[Any]:
    eng = create_engine(f"sqlite:///{cfg.parent / 'platform.db'}")
    with eng.connect() as conn:
        out = [tuple(r) for r in conn.execute(text(sql), params)]
    eng.dispose()
    return out


# -- the policy as code ---------------------------------------------------------------------------
def test_purposes_carry_the_bases_the_seed_names() -> None:
    """Section 1 names a basis for each purpose (art. 6 ust. 1 lit. b, c, f RODO, or consent)."""
    want = {
        "konto": "contract", "usluga": "contract", "spolecznosc": "contract", "obsluga_przedumowna": "contract",
        "dostep_demonstracyjny": "contract", "aktualizacje": "contract", "funkcjonalnosc": "contract",
        "wsparcie": "contract", "wydajnosc": "legitimate_interests", "prawo_zagraniczne": "legitimate_interests",
        "ulepszanie": "legitimate_interests", "dzienniki": "legitimate_interests",
        "analityka": "legitimate_interests", "marketing_bezposredni": "legitimate_interests",
        "biuletyn": "consent", "sledzace_cookie": "consent", "ksiegowosc": "legal_obligation",
        "obowiazki_prawne": "legal_obligation",
    }
    p = policy()
    assert {x.key: x.legal_basis for x in p.purposes} == want
    for x in p.purposes:
        assert x.consent_required == (x.legal_basis == "consent"), x.key
        # every legitimate interest can be objected to; the newsletter too (direct marketing)
        assert x.objectable == (x.legal_basis == "legitimate_interests" or x.key == "biuletyn"), x.key
        assert not x.sells_or_shares, "'nie będziemy sprzedawać, udostępniać ani wynajmować'"
    assert "user.content.public" in p.purpose("spolecznosc").categories
    assert p.purpose("ksiegowosc").categories == ["user.name", "user.financial"]


def test_account_needs_only_name_and_email_and_no_financial_data_is_collected() -> None:
    p = policy()
    accounts = get_platform("onetagger").metadata.tables["accounts"]
    required = {c.name for c in accounts.columns if not c.nullable and not c.primary_key and c.default is None
                and c.server_default is None}
    assert required <= {"email", "name", "created_at", "status"}, required
    financial = next(c for c in p.categories if c.key == "user.financial")
    assert [s.kind for s in financial.sources] == ["third_party"], "payment confirmations come from the provider"
    columns = {c.name for t in get_platform("onetagger").metadata.tables.values() for c in t.columns}
    assert not {c for c in columns if "card" in c or "iban" in c or c in ("pan", "cvv", "account_number")}
    ds = load_dataset(HERE / "dataset.yaml")
    fin = {f"{c.name}.{f.name}" for db in ds.databases for c in db.collections for f in c.fields
           if "user.financial" in f.categories}
    # payment confirmations, and the tax id a customer may add to a billing profile: no card or bank data
    assert "payments.amount" in fin and fin <= {"payments.amount", "billing_profiles.tax_id"}, fin


def test_processors_act_on_instruction_and_transfers_have_clauses() -> None:
    p = policy()
    processors = [r for r in p.recipients if r.role == "processor"]
    assert len(processors) >= 7 and all(r.dpa and r.transfer == "scc" for r in processors)
    ga = next(r for r in p.recipients if r.key == "google_analytics")
    assert ga.countries == ["US"]
    loaded = load_policy_located(HERE / "policy.yaml")
    assert lint_policy(loaded.model, loaded.source).errors == []
    ropa = list(csv.DictReader(io.StringIO(to_csv(build_ropa(p, load_dataset(HERE / "dataset.yaml"))))))
    assert {r["recipient"] for r in ropa if r["section"] == "recipients"} >= {r.key for r in processors}
    assert [(r["recipient"], r["country"]) for r in ropa if r["section"] == "transfers"] == [("google_analytics",
                                                                                              "US")]


def test_polish_notice_names_contact_authority_safeguards_and_changes() -> None:
    p = policy()
    # section 3: "Wniesienia sprzeciwu", "Dostęp do informacji", "żądania ich sprostowania", "Ograniczenie
    # przetwarzania informacji", "Usuń swoje dane osobowe", "Przekazania danych osobowych innej organizacji",
    # "może wycofać swoją zgodę", "ma prawo złożyć skargę"
    assert {r.kind for r in p.rights.offered} == {"objection", "access", "rectification", "restriction", "erasure",
                                                  "portability", "withdraw_consent", "complaint"}
    assert all(any(ch.address == "privacy@onetagger.com" for ch in r.channels)
               for r in p.rights.offered if r.kind not in ("complaint",))
    assert (p.controller.name, p.controller.country) == ("Connexeon BV", "BE")
    md = render(p, "pl", "md")
    assert "Connexeon BV, Aalmoezenierstraat 20A, 2000 Antwerpen, Belgia" in md and "KBO 0867496536" in md
    assert "privacy@onetagger.com" in md.split("## Twoje prawa")[1]
    complaint = md.split("## Skarga do organu nadzorczego")[1].split("## ")[0]
    assert "w którym mieszkasz lub pracujesz" in complaint and "Gegevensbeschermingsautoriteit" in complaint
    transfers = md.split("## Przekazywanie danych poza")[1].split("## ")[0]
    assert "standardowe klauzule umowne" in transfers
    assert "Kopię tych zabezpieczeń możesz otrzymać, pisząc na adres privacy@onetagger.com" in transfers
    changes = md.split("## Zmiany tej informacji")[1]
    assert "komunikat na naszej stronie internetowej" in changes
    retention = md.split("## Jak długo przechowujemy dane")[1].split("## ")[0]
    assert "12 miesięcy od Twojego ostatniego logowania" in retention


# -- decisions ----------------------------------------------------------------------------------
def test_objection_stops_legitimate_interests_and_direct_marketing_at_once(tmp_path: Path) -> None:
    engine = platform_engine("onetagger", tmp_path)
    email = person(engine, "accounts")
    for key in ("wydajnosc", "ulepszanie", "dzienniki", "analityka", "marketing_bezposredni", "aktualizacje"):
        assert engine.may(email, key).allowed, key
    assert object_to(engine, email, "marketing_bezposredni")["absolute"], "direct marketing: no balancing"
    for key in ("wydajnosc", "ulepszanie"):
        assert object_to(engine, email, key)["art21_applies"]
    for key in ("marketing_bezposredni", "wydajnosc", "ulepszanie"):
        assert engine.may(email, key).code == "objected", key
    # updates about the service are part of the contract: an objection elsewhere leaves them
    assert engine.may(email, "aktualizacje").allowed and engine.may(email, "konto").allowed
    assert engine.may(email, "dzienniki").allowed  # objected only to what the person named
    engine.close()


# -- rights on a generated onetagger ------------------------------------------------------------
def test_access_holds_support_chat_community_and_demo_data(tmp_path: Path) -> None:
    cfg = deployment(tmp_path, "onetagger", users=30)
    engine = make_engine(cfg, Clock(START), 1, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    found = rows(cfg, "SELECT a.email FROM accounts a WHERE EXISTS (SELECT 1 FROM support_tickets t "
                      "WHERE t.account_id = a.id) AND EXISTS (SELECT 1 FROM comments c WHERE c.account_id = a.id) "
                      "ORDER BY a.id")
    assert found
    counts = write_access_zip(engine, {"email": found[0][0]}, tmp_path / "a.zip").located.counts()
    assert {"main.accounts", "main.support_tickets", "main.comments"} <= set(counts)
    demo = rows(cfg, "SELECT email FROM demo_accounts ORDER BY id")
    assert demo
    got = write_access_zip(engine, {"email": demo[0][0]}, tmp_path / "d.zip").located.counts()
    assert got.get("main.demo_accounts", 0) >= 1
    visitor = rows(cfg, "SELECT visitor_email FROM chat_transcripts WHERE visitor_email IS NOT NULL ORDER BY id")
    if visitor:
        got = write_access_zip(engine, {"email": visitor[0][0]}, tmp_path / "v.zip").located.counts()
        assert got.get("main.chat_transcripts", 0) >= 1
    engine.close()


def test_erasure_keeps_payment_confirmations_for_the_accounting_law(tmp_path: Path) -> None:
    cfg = deployment(tmp_path, "onetagger", users=30)
    cut = (START - timedelta(days=365)).isoformat()
    found = rows(cfg, "SELECT a.id, a.email FROM accounts a WHERE EXISTS (SELECT 1 FROM payments p "
                      "WHERE p.account_id = a.id AND p.issued_at > :cut) ORDER BY a.id", cut=cut)
    assert found
    aid, email = found[0]
    recent = {r[0] for r in rows(cfg, "SELECT id FROM payments WHERE account_id = :a AND issued_at > :cut",
                                 a=aid, cut=cut)}
    engine = make_engine(cfg, Clock(START), 1, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    report = erase(engine, {"email": email})
    engine.close()
    # kept by law: unchanged (retained) or with the link to the person cut (masked)
    kept = [e for e in report["retained"] + report["masked"] if e["collection"] == "main.payments"]
    assert kept and all(e["exemption"] == "ksiegowosc" and e["law"] == policy().exemption("ksiegowosc").law
                        for e in kept)
    assert recent <= {r[0] for r in rows(cfg, "SELECT id FROM payments")}
    assert rows(cfg, "SELECT count(*) FROM payments WHERE account_id = :a", a=aid) == [(0,)]
    assert rows(cfg, "SELECT count(*) FROM accounts WHERE id = :a", a=aid) == [(0,)]


def test_a_refused_objection_is_explained_to_the_person_in_polish(tmp_path: Path) -> None:
    cfg = deployment(tmp_path, "onetagger", users=10)
    email = rows(cfg, "SELECT email FROM accounts ORDER BY id LIMIT 1")[0][0]
    with smtp_sink() as sink:
        engine = make_engine(cfg, Clock(START), sink.port, database_url=f"sqlite:///{tmp_path / 'store.db'}")
        r = engine.requests.create("objection", {"email": email}, params={"purpose": "wydajnosc"}, lang="pl")
        note = Faker("pl_PL").sentence()
        denied = engine.requests.deny(r.id, "compelling_grounds", note=note, actor="dpo")
        assert denied.state == "denied" and denied.denial_ground == "compelling_grounds"
        last = mails_to(sink, email)[-1]
        body = last.get_payload(decode=True)
        assert isinstance(body, bytes)
        assert note in body.decode() and "21" in body.decode()
        assert str(make_header(decode_header(last["Subject"]))) and last["Content-Language"] == "pl"
        assert any(e["target"] == f"request:{r.id}" for e in engine.audit.entries(action="request.denied"))
        engine.close()


def _moment(value: Any) -> Any:
    from datetime import datetime

    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=None)


def test_analytics_live_only_while_the_account_is_active(tmp_path: Path) -> None:
    """"Przechowujemy tego typu informacje, dopóki są one istotne dla naszych analiz i badań lub
    dopóki Twoje konto jest aktywne, w zależności od tego, co nastąpi szybciej. Dane analityczne
    zostaną usunięte w ciągu 24 miesięcy od ostatniej wizyty w witrynie." An account is no longer
    active once it is closed, or once it "stanie się nieaktywny" — 12 months after its last session
    (section 1.1; never signed in: the sign-up was the session). The survivors of a sweep are
    worked out here with those words, from the rows themselves."""
    from pledge.retention.sweep import run

    cfg = deployment(tmp_path, "onetagger", users=40)
    now = START.replace(tzinfo=None)
    found = rows(cfg, "SELECT a.id FROM accounts a WHERE a.closed_at IS NULL AND (SELECT count(*) FROM "
                      "analytics_events e WHERE e.account_id = a.id) >= 2 ORDER BY a.id")
    assert len(found) >= 3
    active, idle, closing = (r[0] for r in found[:3])
    stamp = "%Y-%m-%d %H:%M:%S"
    eng = create_engine(f"sqlite:///{cfg.parent / 'platform.db'}")
    with eng.begin() as conn:  # one account of each kind, with events well inside the 24 months
        for aid, login in ((active, now - timedelta(days=30)), (idle, now - timedelta(days=400)),
                           (closing, now - timedelta(days=30))):
            conn.execute(text("UPDATE accounts SET last_login_at = :l WHERE id = :a"),
                         {"l": login.strftime(stamp), "a": aid})
            conn.execute(text("UPDATE analytics_events SET created_at = :c WHERE account_id = :a"),
                         {"c": (now - timedelta(days=60)).strftime(stamp), "a": aid})
        conn.execute(text("UPDATE accounts SET status = 'closed', closed_at = :c WHERE id = :a"),
                     {"c": (now - timedelta(days=1)).strftime(stamp), "a": closing})
    eng.dispose()
    accounts = {r[0]: r[1:] for r in rows(cfg, "SELECT id, closed_at, last_login_at, created_at FROM accounts")}
    year, two_years = now.replace(year=now.year - 1), now.replace(year=now.year - 2)

    def active_account(aid: int | None) -> bool:
        if aid is None:
            return True  # a visitor without an account: only the 24 months apply
        closed_at, last_login, created = accounts[aid]
        session = _moment(last_login) or _moment(created)
        return closed_at is None and session >= year

    events = rows(cfg, "SELECT id, account_id, created_at FROM analytics_events")
    keep = {e[0] for e in events if _moment(e[2]) >= two_years and active_account(e[1])}
    by_account = {aid: {e[0] for e in events if e[1] == aid} for aid in (active, idle, closing)}
    assert by_account[active] <= keep and not (by_account[idle] | by_account[closing]) & keep
    assert {e[0] for e in events} - keep, "some events are past their time"
    engine = make_engine(cfg, Clock(START), 1, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    try:
        run(engine, START)
    finally:
        engine.close()
    assert {r[0] for r in rows(cfg, "SELECT id FROM analytics_events")} == keep


def test_an_erasure_a_claim_needs_is_refused_with_its_ground_in_polish(tmp_path: Path) -> None:
    """"… a Twoje dane nie są potrzebne w ramach aktywnej umowy lub roszczenia, usuniemy Twoje
    informacje na Twoją prośbę." OneTagger's data hold no contract or claim record, so the
    officer applies the exception: the request is refused with the Art. 17(3)(e) ground, the
    person is told why in Polish, and nothing is deleted."""
    cfg = deployment(tmp_path, "onetagger", users=10)
    aid, email = rows(cfg, "SELECT id, email FROM accounts WHERE status <> 'closed' ORDER BY id LIMIT 1")[0]
    tables = ("accounts", "payments", "support_tickets", "comments", "analytics_events")
    before = {t: rows(cfg, f"SELECT * FROM {t} WHERE {'id' if t == 'accounts' else 'account_id'} = :a", a=aid)
              for t in tables}
    with smtp_sink() as sink:
        engine = make_engine(cfg, Clock(START), sink.port, database_url=f"sqlite:///{tmp_path / 'store.db'}")
        try:
            r = engine.requests.create("erasure", {"email": email}, lang="pl")
            note = "Spór o fakturę 2025/117 jest w toku."
            denied = engine.requests.deny(r.id, "legal_claims", note=note, actor="dpo")
            assert (denied.state, denied.denial_ground) == ("denied", "legal_claims")
            body = mails_to(sink, email)[-1].get_payload(decode=True)
            assert isinstance(body, bytes)
            assert "obrony roszczeń (art. 17 ust. 3 lit. e RODO)" in body.decode() and note in body.decode()
        finally:
            engine.close()
    after = {t: rows(cfg, f"SELECT * FROM {t} WHERE {'id' if t == 'accounts' else 'account_id'} = :a", a=aid)
             for t in tables}
    assert after == before


def test_requests_are_answered_within_the_month_of_art_12_and_extended_by_two() -> None:
    """The seed lists the rights ("Użytkownik może korzystać z praw wynikających z RODO …") but no period, so
    RODO's own applies, art. 12 ust. 3: "bez zbędnej zwłoki – a w każdym razie w terminie miesiąca od otrzymania
    żądania … W razie potrzeby termin ten może zostać przedłużony o kolejne dwa miesiące". Dates by hand: from
    31 January the month ends on 28 February, and two more months on 28 April."""
    from datetime import date

    from pledge.rights.deadlines import deadline_for

    d = deadline_for(policy(), "gdpr", date(2026, 1, 31))
    assert (d.legal_due, d.due, d.promise_due) == (date(2026, 2, 28), date(2026, 2, 28), None)
    assert (d.extended_due, d.confirm_by) == (date(2026, 4, 28), None)


def test_breach_is_reported_to_the_authority_within_72_hours(tmp_path: Path) -> None:
    """The seed is silent on breaches; RODO art. 33 ust. 1: "nie później niż w terminie 72 godzin po
    stwierdzeniu naruszenia". Stwierdzone 1 marca o 08:00: organ musi je dostać do 4 marca, 08:00."""
    from datetime import UTC, datetime

    cfg = deployment(tmp_path, "onetagger", users=8)
    clock = Clock(START)
    engine = make_engine(cfg, clock, 1, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    try:
        aware = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
        b = engine.breaches.open(title="Pliki dziennika dostępne publicznie", aware_at=aware,
                                 collections=["main.web_logs"], fields=["ip_address"],
                                 window_from=aware - timedelta(days=30), window_to=aware, actor="officer")
        engine.breaches.assess(b.id, likelihood="medium", severity="medium", encrypted=False, actor="officer")
        c = engine.breaches.clock(engine.breaches.get(b.id))
        assert c.deadline == datetime(2026, 3, 4, 8, 0, tzinfo=UTC)
        clock.now = datetime(2026, 3, 4, 8, 30, tzinfo=UTC)
        assert engine.breaches.clock(engine.breaches.get(b.id)).overdue
    finally:
        engine.close()


#: collections of each 12-month inactivity clock whose seed section ends with the accounting exception
#: "Z wyłączeniem informacji wymaganych dla naszej księgowości lub wymogów prawnych" (or "… do celów
#: księgowych …"): the account (1.1), billing profile and payment confirmations (1.3), the Site's functions
#: (1.2) and support (1.4). The analytics of an inactive account (section 5) has no such exception.
ACCOUNTING_EXCEPTION = {"main.accounts", "main.billing_profiles", "main.containers; main.comments; main.survey_answers",
                        "main.payments", "main.support_tickets; main.chat_transcripts"}


def test_ropa_keeps_payment_confirmations_past_every_inactivity_clock() -> None:
    """Each clock the seed gives the accounting exception names it in the records of processing, and the
    exception itself is the Belgian VAT code's: art. 60 § 4, invoices kept 10 years (from 1 January 2023)."""
    ropa = build_ropa(policy(), load_dataset(HERE / "dataset.yaml"))
    retention = [r for r in csv.DictReader(io.StringIO(to_csv(ropa))) if r["section"] == "retention"]
    by_rule = {r["rule"]: r for r in retention}
    inactive = {r["systems"]: r for r in retention if r["trigger"].endswith("last_login_at")}
    assert set(inactive) >= ACCOUNTING_EXCEPTION
    for systems, row in inactive.items():
        kept = [by_rule[k.strip()] for k in row["legal_basis_for_keeping"].split(";") if k.strip() in by_rule]
        want = [("main.payments", "P10Y")] if systems in ACCOUNTING_EXCEPTION else []
        assert [(k["systems"], k["period_iso"]) for k in kept] == want, systems
        if kept:
            assert "art. 60 § 4" in kept[0]["legal_basis_for_keeping"]
