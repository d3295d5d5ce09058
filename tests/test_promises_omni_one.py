"""Omni One's promises (examples/omni-one/PROMISES.md) that no feature test proves on this
platform: each test reads the example's own policy.yaml and dataset.yaml, and the
behavioural ones run against a small generated omni-one platform (SQLite, Faker)."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from pledge.consent.unsubscribe import preferences_token, unsubscribe_token, use_unsubscribe
from pledge.datamap.load import load_dataset
from pledge.platforms import get_platform
from pledge.policy.lint import lint_policy
from pledge.policy.load import load_policy, load_policy_located
from pledge.policy.model import Policy
from pledge.reports.campaign import Campaigns
from pledge.reports.notice import render
from pledge.reports.ropa import build_ropa, to_csv
from pledge.reports.versions import publish
from pledge.retention import sweep
from pledge.retention.holds import Holds
from pledge.rights.access import write_access_zip
from pledge.rights.erasure import erase
from pledge.rights.restrict import object_to
from pledge.web.app import create_app
from tests.conftest import EXAMPLES
from tests.requests_support import START, Clock, deployment, mails_to, make_engine, smtp_sink
from tests.retention_checks import NOW, T
from tests.retention_support import deployment as retention_deployment
from tests.test_consent_platforms import person, platform_engine

HERE = EXAMPLES / "omni-one"


def policy() -> Policy:
    return load_policy(HERE / "policy.yaml")


def rows(cfg: Path, sql: str, **params: Any) -> list[Any]:
    eng = create_engine(f"sqlite:///{cfg.parent / 'platform.db'}")
    with eng.connect() as conn:
        out = [tuple(r) for r in conn.execute(text(sql), params)]
    eng.dispose()
    return out


# -- the policy as code ---------------------------------------------------------------------------
def test_purposes_carry_the_seed_bases() -> None:
    """Section 13's bases, section 3's purposes: (basis, consent needed, objectable)."""
    want = {
        "service": ("contract", False, False), "ai_requests": ("contract", False, False),
        "workspace_collaboration": ("contract", False, False), "payments": ("contract", False, False),
        "transactional_email": ("contract", False, False),
        "support": ("legitimate_interests", False, True),
        "service_improvement": ("legitimate_interests", False, True),
        "business_analytics": ("legitimate_interests", False, True),
        "security": ("legitimate_interests", False, True),
        "marketing_email": ("consent", True, True), "email_tracking": ("consent", True, False),
        "functional_cookies": ("consent", True, False), "analytics_cookies": ("consent", True, False),
        "legal_obligations": ("legal_obligation", False, False),
    }
    p = policy()
    got = {x.key: (x.legal_basis, x.consent_required, x.objectable) for x in p.purposes}
    assert got == want
    for x in p.purposes:
        if x.consent_required:
            assert x.withdrawal, f"{x.key}: a consent purpose says how to withdraw"
        if x.legal_basis == "legitimate_interests":
            assert x.legitimate_interest, f"{x.key}: the interest being balanced is written down"
        assert not x.sells_or_shares, "'We do not sell, rent, or lease your personal information'"
    assert p.purpose("ai_requests").categories == ["user.content.private"]
    assert {"user.behavior"} <= set(p.purpose("workspace_collaboration").categories)
    assert set(p.purpose("legal_obligations").categories) >= set(p.exemption("tax_records").categories)
    assert p.automated_decisions is None or not p.automated_decisions.used


def test_recipients_countries_transfers_and_their_own_retention() -> None:
    p = policy()
    by = {r.key: r for r in p.recipients}
    ai = by["openrouter"]
    assert (ai.role, ai.countries, ai.transfer, ai.dpa, ai.no_training, str(ai.retention_period)) == (
        "processor", ["US"], "scc", True, True, "P30D")
    assert ai.purposes == ["ai_requests"] and ai.categories == ["user.content.private"]
    assert (by["stripe"].countries, by["stripe"].transfer) == (["US"], "scc")
    assert by["hosting"].countries == ["EU"]
    assert by["authorities"].role == "public_authority" and by["acquirer"].role == "controller"
    assert all(r.dpa for r in p.recipients if r.role == "processor"), "every processor is bound by contract"
    # the RoPA shows the processor's own retention promise and the safeguard of each US transfer
    ropa = list(csv.DictReader(io.StringIO(to_csv(build_ropa(p, load_dataset(HERE / "dataset.yaml"))))))
    rec = next(r for r in ropa if r["section"] == "recipients" and r["recipient"] == "openrouter")
    assert "30 days" in rec["retention"] and "no training" in rec["retention"] and rec["dpa"] == "yes"
    transfers = {(r["recipient"], r["country"]): r["mechanism"] for r in ropa if r["section"] == "transfers"}
    assert ("openrouter", "US") in transfers and ("stripe", "US") in transfers
    assert all("none" not in m for m in transfers.values())


def test_us_transfers_pass_the_lint_only_with_their_clauses() -> None:
    loaded = load_policy_located(HERE / "policy.yaml")
    assert lint_policy(loaded.model, loaded.source).errors == []
    raw = yaml.safe_load((HERE / "policy.yaml").read_text(encoding="utf-8"))
    for r in raw["recipients"]:
        if r["key"] == "openrouter":
            del r["transfer"]
    bare = lint_policy(Policy.model_validate(raw))
    assert [(f.code, f.path.split(".")[0]) for f in bare.errors] == [("PL002", "recipients[0]")]


def test_card_details_live_only_at_stripe() -> None:
    p = policy()
    card = "user.financial.credit_card"
    assert [r.key for r in p.recipients if card in r.categories] == ["stripe"]
    assert all(card not in x.categories for x in p.purposes), "Omni One itself processes no card data"
    ds = load_dataset(HERE / "dataset.yaml")
    assert all(card not in f.categories for db in ds.databases for c in db.collections for f in c.fields)
    columns = {c.name for t in get_platform("omni-one").metadata.tables.values() for c in t.columns}
    assert not {c for c in columns if "card" in c or c in ("pan", "cvv", "cvc")}
    assert "stripe_customer_id" in columns  # only Stripe's reference to the customer


def test_notice_names_contact_authority_complaints_and_no_dpo() -> None:
    p = policy()
    # "operated by Midaz Group Sp. z o.o., a company registered in Poland."; "We comply with the General
    # Data Protection Regulation (GDPR) and Polish data protection laws."; "California Privacy Rights (CCPA)"
    assert (p.controller.name, p.controller.country) == ("Midaz Group Sp. z o.o.", "PL")
    assert set(p.regimes) == {"gdpr", "ccpa"}
    assert p.controller.dpo is None
    assert (p.authority.url, p.authority.address) == ("https://uodo.gov.pl", "ul. Stawki 2, 00-193 Warszawa, Poland")
    assert p.age is not None and (p.age.minimum, p.age.on_child_found) == (18, "delete")
    assert {r.kind for r in p.rights.offered} >= {"access", "rectification", "erasure", "restriction",
                                                  "portability", "objection", "withdraw_consent", "complaint",
                                                  "ccpa_know", "ccpa_delete", "ccpa_opt_out"}
    assert all(any(ch.address == "hello@omni1.ai" for ch in r.channels)
               for r in p.rights.offered if r.kind != "complaint")
    md = render(p, "en", "md")
    assert "Midaz Group Sp. z o.o." in md
    assert "hello@omni1.ai" in md and "ul. Stawki 2, 00-193 Warszawa" in md
    complaint = md.split("## Complaints to the supervisory authority")[1].split("## ")[0]
    assert "lodge a complaint" in complaint and "(UODO), ul. Stawki 2" in complaint
    assert "We have not appointed a data protection officer" in md
    rights = md.split("## Your rights")[1].split("## ")[0]
    assert "by email to hello@omni1.ai" in rights and "We answer within 30 days." in rights
    assert "Version 2025-10-23, effective from" in md  # the "Last Updated" date


# -- decisions ----------------------------------------------------------------------------------
def test_objection_stops_legitimate_interests_and_transactional_email_stays(tmp_path: Path) -> None:
    engine = platform_engine("omni-one", tmp_path)
    email = person(engine, "users", birth_date=date(1990, 3, 3))
    for key in ("support", "service_improvement", "business_analytics", "security", "transactional_email"):
        assert engine.may(email, key).allowed, key
    for key in ("support", "service_improvement"):
        assert object_to(engine, email, key)["art21_applies"]
        assert engine.may(email, key).code == "objected"
    engine.consent.record(email, "marketing_email", "given")
    assert object_to(engine, email, "marketing_email")["absolute"], "direct marketing: no balancing"
    assert engine.may(email, "marketing_email").code == "objected"
    use_unsubscribe(engine, unsubscribe_token(engine, email, "marketing_email"))
    # "You cannot opt out of transactional emails": contract, untouched by all of the above
    assert engine.may(email, "transactional_email").allowed
    assert engine.may(email, "service").allowed and engine.may(email, "security").allowed
    # a purpose needing "explicit consent" is denied until it is given
    assert engine.may(email, "functional_cookies").code == "no_consent"
    engine.close()


def test_cookie_banner_locks_essential_and_asks_for_the_rest(tmp_path: Path) -> None:
    engine = platform_engine("omni-one", tmp_path)
    client = TestClient(create_app(engine))
    cats = {c["key"]: c for c in client.get("/v1/consent/config").json()["categories"]}
    assert set(cats) == {"essential", "functional", "analytics"}
    assert cats["essential"]["locked"] and not cats["functional"]["locked"] and not cats["analytics"]["locked"]
    assert not any(c["sells_or_shares"] for c in cats.values())
    email = person(engine, "users", birth_date=date(1985, 6, 6))
    token = preferences_token(engine, email)
    assert engine.may(email, "analytics_cookies").code == "no_consent"  # opt-in: nothing before a choice
    client.post("/v1/consent", json={"token": token, "choices": {"functional": True, "analytics": False}})
    assert engine.may(email, "functional_cookies").allowed
    assert engine.may(email, "analytics_cookies").code == "consent_refused"
    engine.close()


# -- rights on a generated omni-one -------------------------------------------------------------
def test_invitee_who_is_not_a_user_gets_access(tmp_path: Path) -> None:
    cfg = deployment(tmp_path, "omni-one", users=20)
    found = rows(cfg, "SELECT email FROM invitations WHERE lower(email) NOT IN (SELECT lower(email) FROM users)")
    assert found, "the generated platform has invitations to people without an account"
    invitee = found[0][0]
    engine = make_engine(cfg, Clock(START), 1, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    export = write_access_zip(engine, {"email": invitee}, tmp_path / "invitee.zip")
    counts = export.located.counts()
    assert counts.get("main.invitations", 0) >= 1 and "main.users" not in counts
    with zipfile.ZipFile(tmp_path / "invitee.zip") as zf:
        assert invitee in zf.read("csv/main.invitations.csv").decode()
    engine.close()


def test_erasure_keeps_invoices_for_the_tax_law_and_anonymises_shared_messages(tmp_path: Path) -> None:
    cfg = deployment(tmp_path, "omni-one", users=20)
    # a person with an invoice inside its 5 years who also wrote in someone else's conversation
    candidates = rows(cfg, "SELECT u.id, u.email FROM users u WHERE EXISTS (SELECT 1 FROM invoices i "
                           "WHERE i.user_id = u.id AND i.issued_at > :cut) AND EXISTS (SELECT 1 FROM messages m "
                           "JOIN conversations c ON c.id = m.conversation_id WHERE m.author_id = u.id "
                           "AND c.user_id <> u.id) ORDER BY u.id", cut=(START - timedelta(days=365)).isoformat())
    assert candidates
    uid, email = candidates[0]
    invoices = {r[0] for r in rows(cfg, "SELECT id FROM invoices WHERE user_id = :u AND issued_at > :cut",
                                   u=uid, cut=(START - timedelta(days=365)).isoformat())}
    shared_text = dict(rows(cfg, "SELECT m.id, m.content FROM messages m JOIN conversations c "
                                 "ON c.id = m.conversation_id WHERE m.author_id = :u AND c.user_id <> :u", u=uid))
    shared = {r[0] for r in rows(cfg, "SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                                      "WHERE m.author_id = :u AND c.user_id <> :u", u=uid)}
    engine = make_engine(cfg, Clock(START), 1, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    report = erase(engine, {"email": email})
    engine.close()
    law = policy().exemption("tax_records").law
    # kept by law: unchanged (retained) or with the link to the person cut (masked)
    kept = [e for e in report["retained"] + report["masked"] if e["collection"] == "main.invoices"]
    assert kept and all(e["exemption"] == "tax_records" and e["law"] == law for e in kept)
    assert invoices <= {r[0] for r in rows(cfg, "SELECT id FROM invoices")}, "tax records stay 5 years"
    assert rows(cfg, "SELECT count(*) FROM invoices WHERE user_id = :u", u=uid) == [(0,)]
    assert rows(cfg, "SELECT count(*) FROM users WHERE id = :u", u=uid) == [(0,)]
    left = rows(cfg, f"SELECT id, author_id, content FROM messages WHERE id IN ({','.join(map(str, shared))})")
    assert {r[0] for r in left} == shared, "the others keep the thread"
    assert all(r[1] is None for r in left), "but the message no longer points at the person"
    assert all(r[2] != shared_text[r[0]] for r in left), "and its words are redacted"


def test_material_change_and_business_transfer_are_emailed_ahead(tmp_path: Path) -> None:
    cfg = deployment(tmp_path, "omni-one", users=12)
    active = {r[0].lower() for r in rows(cfg, "SELECT email FROM users WHERE status <> 'closed'")}
    closed = {r[0].lower() for r in rows(cfg, "SELECT email FROM users WHERE status = 'closed'")}
    with smtp_sink() as sink:
        store = f"sqlite:///{tmp_path / 'store.db'}"
        settings = {"database_url": store, "base_url": "https://omni1.test"}
        engine = make_engine(cfg, Clock(START), sink.port, **settings)
        publish(engine)
        engine.close()
        raw = yaml.safe_load(cfg.with_name("policy.yaml").read_text(encoding="utf-8"))
        raw["version"] = "2026-04-01"
        for r in raw["retention"]:
            if r["key"] == "closed_accounts":
                r["period"] = "P180D"  # keeps closed accounts longer: reduces the person's rights
        cfg.with_name("policy.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
        engine = make_engine(cfg, Clock(START), sink.port, **settings)
        published = publish(engine)
        assert published.material and published.diff is not None
        campaigns = Campaigns(engine)
        cid = campaigns.start_for_change(published.diff, published.id)
        campaign = campaigns.get(cid)
        assert campaign.effective_at.date() >= (START + timedelta(days=30)).date(), "at least 30 days' notice"
        assert campaign.reconsent, "material changes may require explicit consent"
        outcome = campaigns.send(cid)
        assert outcome.failed == 0 and outcome.sent >= len(active)
        for address in active:
            mails = mails_to(sink, address)
            body = mails[0].get_payload(decode=True)
            assert len(mails) == 1 and isinstance(body, bytes) and "2026-04-01" in body.decode()
        assert all(mails_to(sink, a) == [] for a in closed)
        # a change in ownership: every user is told by email
        before = len(sink.messages())
        bt = campaigns.start("business_transfer", details={"acquirer": "Example Holdings"})
        assert campaigns.send(bt).sent == outcome.sent
        news = sink.messages()[before:]
        assert all("Example Holdings" in m.raw.decode("utf-8", "replace") for m in news)
        engine.close()


def test_ccpa_right_to_know_covers_the_past_12_months(tmp_path: Path) -> None:
    """"18.1 Right to Know: Request information about personal data collected, used, shared, or
    sold in the past 12 months." A CCPA request for specific pieces returns every row of the
    12 months before the request (Pledge cuts nothing off, so older rows come too), and the
    purposes and recipients it was used for and shared with."""
    import json

    from pledge.rights.verify import make_platform_token
    from tests.requests_support import code_from

    assert {"ccpa_know", "ccpa_delete", "ccpa_opt_out"} <= {r.kind for r in policy().rights.offered}
    cfg = deployment(tmp_path, "omni-one", users=12)
    uid, email = rows(cfg, "SELECT u.id, u.email FROM users u WHERE u.status <> 'closed' AND (SELECT count(*) "
                           "FROM messages m WHERE m.author_id = u.id) >= 3 ORDER BY u.id")[0]
    year_ago = START.replace(year=START.year - 1)
    # one message on the first day of the 12 months, one from three years ago
    first, old = [r[0] for r in rows(cfg, "SELECT id FROM messages WHERE author_id = :u ORDER BY id", u=uid)[:2]]
    eng = create_engine(f"sqlite:///{cfg.parent / 'platform.db'}")
    with eng.begin() as conn:
        for mid, when in ((first, year_ago + timedelta(hours=1)), (old, START.replace(year=START.year - 3))):
            conn.execute(text("UPDATE messages SET created_at = :w WHERE id = :i"),
                         {"w": when.replace(tzinfo=None).isoformat(sep=" "), "i": mid})
    eng.dispose()
    window = {r[0] for r in rows(cfg, "SELECT id FROM messages WHERE author_id = :u AND created_at >= :y",
                                 u=uid, y=year_ago.replace(tzinfo=None).isoformat(sep=" "))}
    assert first in window and old not in window
    with smtp_sink() as sink:
        engine = make_engine(cfg, Clock(START), sink.port, database_url=f"sqlite:///{tmp_path / 'store.db'}")
        try:
            svc = engine.requests
            r = svc.create("ccpa_know", {"email": email}, params={"specific": True})
            assert r.regime == "ccpa"
            svc.start_verification(r.id)
            svc.verify_code(r.id, code_from(sink, email))
            svc.verify_token(r.id, make_platform_token(svc.verifier.platform_secret(), email, now=START))
            done = svc.run(r.id)
            assert done.state == "completed"
            _, data = svc.delivery.open_signed(r.id, svc.delivery.sign(r.id, done.result["export"]))
        finally:
            engine.close()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        doc = json.loads(z.read("data.json"))
        names = set(z.namelist())
    got = {m["id"] for m in doc["collections"]["main.messages"]["rows"]}
    assert window <= got, "every message of the past 12 months"
    assert old in got, "and the older ones: nothing is cut off"
    shared = json.dumps(doc, ensure_ascii=False)
    # "used, shared": the purposes and the recipients (OpenRouter, Stripe) are in the package
    assert "OpenRouter" in shared and "Stripe" in shared and "Process AI requests" in shared, sorted(names)


def test_requests_are_answered_within_the_promised_30_days_and_the_laws_extensions() -> None:
    """"We will respond within 30 days." and "Response Time: We will respond to privacy inquiries within 30
    days (GDPR requirement)." The laws behind it: Art. 12(3) GDPR, "within one month of receipt of the request.
    That period may be extended by two further months"; for California, Cal. Civ. Code § 1798.130(a)(2), "within
    45 days … may be extended once by an additional 45 days", and 11 CCR § 7021(a), "confirm receipt … within 10
    business days". Every date is written out by hand; the 30 days win only when they are earlier."""
    from pledge.rights.deadlines import deadline_for

    p = policy()
    gdpr = deadline_for(p, "gdpr", date(2026, 1, 10))
    # 10 January: one month is 10 February, 30 days is 9 February; the extension runs from the legal month
    assert (gdpr.legal_due, gdpr.promise_due, gdpr.due) == (date(2026, 2, 10), date(2026, 2, 9), date(2026, 2, 9))
    assert gdpr.extended_due == date(2026, 4, 10) and gdpr.confirm_by is None
    ccpa = deadline_for(p, "ccpa", date(2026, 3, 2))
    # Monday 2 March: 45 days is 16 April, 30 days is 1 April, 10 business days is Monday 16 March
    assert (ccpa.legal_due, ccpa.due, ccpa.confirm_by) == (date(2026, 4, 16), date(2026, 4, 1), date(2026, 3, 16))
    assert ccpa.extended_due == date(2026, 5, 31), "once more, 45 days after 16 April"


def test_ropa_keeps_invoices_past_the_closed_account_clock_for_the_tax_law() -> None:
    """"Account: All data is permanently deleted within 90 days, except as required by law" and "To comply with
    legal obligations (tax records: 5 years in Poland)": the records of processing must say that the 90-day
    clock on closed accounts leaves the invoices to the 5-year tax clock."""
    ropa = build_ropa(policy(), load_dataset(HERE / "dataset.yaml"))
    retention = [r for r in csv.DictReader(io.StringIO(to_csv(ropa))) if r["section"] == "retention"]
    by_rule = {r["rule"]: r for r in retention}
    closed = [r for r in retention if r["systems"] == "main.users" and r["period_iso"] == "P90D"]
    assert len(closed) == 1
    kept = [by_rule[k.strip()] for k in closed[0]["legal_basis_for_keeping"].split(";") if k.strip() in by_rule]
    assert [(k["systems"], k["period_iso"]) for k in kept] == [("main.invoices", "P5Y")]
    assert "Art. 86" in kept[0]["legal_basis_for_keeping"]


def test_notice_promises_at_least_30_days_before_a_material_change() -> None:
    """"For material changes that reduce your rights, we will provide at least 30 days' notice": the notice
    people read says so in the same number, in English and in Polish (a notice saying 31 days would promise
    something the seed does not; the campaign test beside this one checks that no change applies sooner)."""
    en = render(policy(), "en", "md").split("## Changes to this notice")[1].split("\n## ")[0]
    assert "at least 30 days before they take effect" in en
    assert "co najmniej 30 dni przed ich wejściem" in render(policy(), "pl", "md")


def test_a_hold_on_a_closed_account_keeps_the_account_but_not_its_analytics_identifiable(tmp_path: Path) -> None:
    """"Account: All data is permanently deleted within 90 days, except as required by law" and "We may retain
    anonymized, aggregated data indefinitely for analytics and research purposes. This data cannot be used to
    identify you." A legal hold on a closed account's record keeps that record, and only that: the account's
    analytics events lose every link to the person on day 90 all the same (user, IP; the session id becomes a
    pseudonym), and those of an account closed less than 90 days ago are not touched. The record-set hold
    stops the closed-account erasure, so only the analytics rule acts here."""
    engine = retention_deployment(tmp_path, "omni-one", f"sqlite:///{tmp_path / 'platform.db'}", now=NOW)
    try:
        eng = engine.platform_engine("main")
        past, young = [r[0] for r in sql_rows(eng, "SELECT id FROM users WHERE status = 'closed' ORDER BY id LIMIT 2")]
        # 90 days and an hour before the sweep, and 90 days less an hour: either side of the clock
        moments = {past: T - timedelta(days=90, hours=1), young: T - timedelta(days=89, hours=23)}
        with eng.begin() as conn:
            for user, moment in moments.items():
                conn.execute(text("UPDATE users SET closed_at = :at WHERE id = :id"), {"at": moment, "id": user})
                conn.execute(text(
                    "INSERT INTO analytics_events (created_at, user_id, session_id, ip_address, event, page) "
                    "VALUES (:at, :id, :session, '203.0.113.7', 'page_view', '/pricing')"),
                    {"at": moment - timedelta(days=3), "id": user, "session": f"s-{user}"})
        Holds(engine).add_records("main.users", ids=[past, young], reason="court case 3/2027",
                                  expires_at=NOW + timedelta(days=365))
        events = "SELECT id, user_id, session_id, ip_address FROM analytics_events WHERE user_id = :id ORDER BY id"
        past_before, young_before = sql_rows(eng, events, id=past), sql_rows(eng, events, id=young)
        assert past_before and young_before

        assert sweep.run(engine, NOW)["status"] == "done"

        left = sql_rows(eng, "SELECT id FROM users WHERE id IN (:a, :b) ORDER BY id", a=past, b=young)
        assert left == sorted([(past,), (young,)]), "the held accounts stay"
        ids = ", ".join(str(r[0]) for r in past_before)
        after = {r[0]: r for r in sql_rows(eng, f"SELECT id, user_id, session_id, ip_address FROM analytics_events "
                                                f"WHERE id IN ({ids})")}
        assert set(after) == {r[0] for r in past_before}, "anonymised, not deleted: the aggregates stay"
        for was in past_before:
            _, user_id, session, ip = after[was[0]]
            assert user_id is None and ip is None, f"day 90 has passed: no link to the person is left ({after[was[0]]})"
            assert session is None or (session.startswith("pz_") and session != was[2])
        assert sql_rows(eng, events, id=young) == young_before, "closed under 90 days ago: not touched"
    finally:
        engine.close()


def sql_rows(eng: Any, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with eng.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]
