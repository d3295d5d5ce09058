"""OneStepAI's promises (examples/onestepai/PROMISES.md) that no feature test proves on this
platform: each test reads the example's own policy.yaml and dataset.yaml, and the
behavioural ones run against a small generated onestepai platform (SQLite, Faker)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from pledge.datamap.load import load_dataset
from pledge.platforms import get_platform
from pledge.policy.load import load_policy
from pledge.policy.model import Policy
from pledge.reports.campaign import Campaigns
from pledge.reports.notice import render
from pledge.rights.access import write_access_zip
from pledge.rights.restrict import object_to
from tests.conftest import EXAMPLES
from tests.requests_support import START, Clock, deployment, mails_to, make_engine, smtp_sink
from tests.test_consent_platforms import person, platform_engine

HERE = EXAMPLES / "onestepai"


def policy() -> Policy:
    return load_policy(HERE / "policy.yaml")


def rows(cfg: Path, sql: str, **params: Any) -> list[Any]:
    eng = create_engine(f"sqlite:///{cfg.parent / 'platform.db'}")
    with eng.connect() as conn:
        out = [tuple(r) for r in conn.execute(text(sql), params)]
    eng.dispose()
    return out


# -- the policy as code ---------------------------------------------------------------------------
def test_purposes_carry_the_bases_read_from_the_seed() -> None:
    """(basis, consent needed, objectable, sells or shares) per purpose of section 3."""
    want = {
        "account": ("contract", False, False, False), "social_sign_in": ("contract", False, False, False),
        "billing": ("contract", False, False, False), "support": ("contract", False, False, False),
        "image_recognition": ("contract", False, False, False),
        "facial_recognition": ("contract", True, False, False),
        "service_improvement": ("legitimate_interests", False, True, False),
        "administrative_contact": ("contract", False, False, False),
        "rights_enforcement": ("legitimate_interests", False, True, False),
        "legal_compliance": ("legal_obligation", False, False, False),
        "security": ("legitimate_interests", False, True, False),
        "marketing_email": ("consent", True, True, False),
        "advertising": ("legitimate_interests", False, True, True),
        "analytics": ("consent", True, False, False), "testimonials": ("consent", True, False, False),
        "parental_consent": ("consent", True, False, False),
        "organisation_accounts": ("legitimate_interests", False, True, False),
        "legal_disclosure": ("legal_obligation", False, False, False),
    }
    p = policy()
    assert {x.key: (x.legal_basis, x.consent_required, x.objectable, x.sells_or_shares) for x in p.purposes} == want
    face = p.purpose("facial_recognition")
    assert face.special_basis == "explicit_consent" and "user.biometric" in face.categories
    assert [x.key for x in p.purposes if x.sells_or_shares] == ["advertising"], "'We do not sell' — but ads share"


def test_recipients_sources_and_what_is_never_stored() -> None:
    p = policy()
    by = {r.key: r for r in p.recipients}
    assert (by["technology"].countries, by["technology"].transfer) == (["PL", "US"], "privacy_shield")
    assert {"payment_processor", "security_consultants", "analytics_providers", "social_networks", "other_users",
            "authorities", "acquirer", "organisation_admins"} <= set(by)
    assert by["organisation_admins"].role == "controller" and by["authorities"].role == "public_authority"
    assert all(r.dpa for r in p.recipients if r.role == "processor"), "providers are bound by contract"
    sources = {c.key: {(s.kind, s.party) for s in c.sources} for c in p.categories}
    assert ("third_party", "Google Sign-In and other social networks") in sources["user.name"]
    assert ("third_party", "publicly available data sets") in sources["user.content.private"]
    assert ("third_party", "other users of the Services") in sources["user.content.private"]
    assert ("automatic", None) in sources["user.device.ip_address"]
    assert [s.is_user for s in p.subjects if s.key == "depicted_person"] == [False]
    # no card data and no passwords: only a hash of each API key
    columns = {(t.name, c.name) for t in get_platform("onestepai").metadata.tables.values() for c in t.columns}
    assert not {c for c in columns if "card" in c[1] or "password" in c[1]}
    assert ("api_keys", "key_hash") in columns and not any(c == "key" for _, c in columns)
    ds = load_dataset(HERE / "dataset.yaml")
    assert all("user.financial.credit_card" not in f.categories
               for db in ds.databases for c in db.collections for f in c.fields)


def test_notice_names_controller_children_changes_and_uk_rights() -> None:
    p = policy()
    assert {"gdpr", "uk_gdpr", "ccpa"} <= set(p.regimes)
    assert p.rights.approval_required == ["rectification"]
    assert {r.kind for r in p.rights.offered} >= {"access", "rectification", "erasure", "restriction", "portability",
                                                  "objection", "withdraw_consent", "complaint", "ccpa_know",
                                                  "ccpa_delete", "ccpa_opt_out"}
    complaint = next(r for r in p.rights.offered if r.kind == "complaint")
    assert complaint.channels[0].address == "https://edpb.europa.eu/about-edpb/board/members_en"
    md = render(p, "en", "md")
    assert "Intratel Sp. z o.o., Al. 1000-lecia P.P. 39A, 15-111 Białystok" in md and "KRS 0000170746" in md
    children = md.split("## Children")[1].split("## ")[0]
    assert "13 or over" in children and "consent of a parent or legal guardian" in children
    changes = md.split("## Changes to this notice")[1]
    assert "before they take effect" in changes and "email" in changes
    assert "in your account settings" in md.split("## Your rights")[1].split("## ")[0]


# -- decisions ----------------------------------------------------------------------------------
def test_objection_and_explicit_consent_for_faces(tmp_path: Path) -> None:
    engine = platform_engine("onestepai", tmp_path)
    email = person(engine, "users", birth_date=date(1988, 8, 8))
    for key in ("service_improvement", "rights_enforcement", "organisation_accounts", "security"):
        assert engine.may(email, key).allowed, key
        assert object_to(engine, email, key)["art21_applies"]
        assert engine.may(email, key).code == "objected", key
    assert engine.may(email, "account").allowed, "the contract is not touched by the objections"
    # facial recognition is Art. 9 data: the uploader's explicit consent first
    assert engine.may(email, "facial_recognition").code == "no_consent"
    engine.consent.record(email, "facial_recognition", "given", method="upload_form", channel="web")
    assert engine.may(email, "facial_recognition").allowed
    engine.consent.record(email, "facial_recognition", "withdrawn")
    assert engine.may(email, "facial_recognition").code == "consent_withdrawn"
    assert engine.may(email, "analytics").code == "no_consent"
    engine.close()


# -- rights on a generated onestepai ------------------------------------------------------------
def test_access_holds_profile_uploads_social_links_and_api_log(tmp_path: Path) -> None:
    cfg = deployment(tmp_path, "onestepai", users=30)
    found = rows(cfg, "SELECT u.email FROM users u WHERE EXISTS (SELECT 1 FROM media m WHERE m.user_id = u.id) "
                      "AND EXISTS (SELECT 1 FROM social_logins s WHERE s.user_id = u.id) ORDER BY u.id")
    assert found
    engine = make_engine(cfg, Clock(START), 1, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    counts = write_access_zip(engine, {"email": found[0][0]}, tmp_path / "a.zip").located.counts()
    assert {"main.users", "main.media", "main.social_logins"} <= set(counts)
    engine.close()


def test_managed_rectification_waits_for_approval_and_changes_are_emailed(tmp_path: Path) -> None:
    cfg = deployment(tmp_path, "onestepai", users=12)
    active = {r[0].lower() for r in rows(cfg, "SELECT email FROM users WHERE status <> 'closed'")}
    with smtp_sink() as sink:
        engine = make_engine(cfg, Clock(START), sink.port, database_url=f"sqlite:///{tmp_path / 'store.db'}")
        email = sorted(active)[0]
        r = engine.requests.create("rectification", {"email": email}, params={"changes": {"name": "New Name"}},
                                   notify=False)
        assert r.approval_needed, "rectification waits for an approval (the administrator's, for managed accounts)"
        # a business transfer: every user is told by email before it applies
        campaigns = Campaigns(engine)
        cid = campaigns.start("business_transfer", effective_at=START + timedelta(days=14),
                              details={"acquirer": "Example Vision Inc."})
        outcome = campaigns.send(cid)
        assert outcome.failed == 0 and outcome.sent >= len(active)
        for address in active:
            assert len(mails_to(sink, address)) == 1
        # each dispatch is on record: the proof that the notice was sent
        assert campaigns.status(cid)["sent"] == outcome.sent
        assert any(e["target"] == f"campaign:{cid}" for e in engine.audit.entries(action="notice.campaign.sent"))
        engine.close()


# -- deadlines: the seed names its laws but no periods, so the laws' own apply ----------------------
# The seed: "Access your personal data (Article 15 GDPR)", "If you are a resident of California, you may
# have additional rights granted to you under the California Consumer Protection Act (CCPA)", and rights for
# people in the United Kingdom. It never says how fast it answers, so the expectations below are the laws':
# - Art. 12(3) GDPR (and UK GDPR, same words): "without undue delay and in any event within one month of
#   receipt of the request. That period may be extended by two further months where necessary";
# - Cal. Civ. Code § 1798.130(a)(2): "within 45 days of receiving the verifiable consumer request … The time
#   period … may be extended once by an additional 45 days when reasonably necessary";
# - 11 CCR § 7021(a): "confirm receipt of the request within 10 business days".
# Every date is written out by hand from START (Monday 2 March 2026), not computed by the engine's code.
def test_requests_run_on_the_laws_clocks_and_are_extended_once(tmp_path: Path) -> None:
    from datetime import date as day

    import pytest

    from pledge.rights.deadlines import deadline_for
    from pledge.rights.requests import RequestError

    cfg = deployment(tmp_path, "onestepai", users=8)
    email = rows(cfg, "SELECT email FROM users WHERE status <> 'closed' ORDER BY id LIMIT 1")[0][0]
    engine = make_engine(cfg, Clock(START), 1, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    try:
        gdpr = engine.requests.create("access", {"email": email}, notify=False)
        # one calendar month from 2 March is 2 April (not 30 days: that would be 1 April)
        assert (gdpr.regime, gdpr.due_on, gdpr.extended_due_on, gdpr.confirm_by) == ("gdpr", day(2026, 4, 2), None,
                                                                                   None)
        try:
            extended = engine.requests.extend(gdpr.id, "Many images to review", actor="officer")
        except RequestError as exc:
            pytest.fail(f"Art. 12(3) allows two further months; the engine refused: {exc}")
        assert extended.extended_due_on == day(2026, 6, 2), "two further months after 2 April"
        ccpa = engine.requests.create("ccpa_know", {"email": email}, notify=False)
        # 45 days after 2 March is 16 April; 10 business days after Monday 2 March is Monday 16 March
        assert (ccpa.regime, ccpa.due_on, ccpa.confirm_by) == ("ccpa", day(2026, 4, 16), day(2026, 3, 16))
        extended = engine.requests.extend(ccpa.id, "Many images to review", actor="officer")
        assert extended.extended_due_on == day(2026, 5, 31), "once, by an additional 45 days after 16 April"
    finally:
        engine.close()
    # the UK GDPR clock: 31 January + one month is the last day of February, + two further months 28 April
    uk = deadline_for(policy(), "uk_gdpr", day(2026, 1, 31))
    assert (uk.due, uk.extended_due, uk.confirm_by) == (day(2026, 2, 28), day(2026, 4, 28), None)


def test_breach_is_reported_to_the_authority_within_72_hours(tmp_path: Path) -> None:
    """The seed is silent on breaches; Art. 33(1) GDPR: "not later than 72 hours after having become aware
    of it". Aware at 08:00 on 1 March: the authority must have it by 08:00 on 4 March, and not an hour later."""
    from datetime import UTC, datetime

    cfg = deployment(tmp_path, "onestepai", users=8)
    clock = Clock(START)
    engine = make_engine(cfg, clock, 1, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    try:
        aware = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
        b = engine.breaches.open(title="API access log copied by a former contractor", aware_at=aware,
                                 collections=["main.api_access_log"], fields=["ip_address"],
                                 window_from=aware - timedelta(days=30), window_to=aware, actor="officer")
        engine.breaches.assess(b.id, likelihood="medium", severity="medium", encrypted=False, actor="officer")
        c = engine.breaches.clock(engine.breaches.get(b.id))
        assert c.deadline == datetime(2026, 3, 4, 8, 0, tzinfo=UTC)
        clock.now = datetime(2026, 3, 4, 8, 30, tzinfo=UTC)
        assert engine.breaches.clock(engine.breaches.get(b.id)).overdue
    finally:
        engine.close()


def test_ropa_keeps_invoices_past_the_account_clocks_for_the_tax_law() -> None:
    """Deleting "is subject to certain exceptions: for example, we may need to retain your Personal Data for
    record keeping purposes, to complete transactions or to comply with our legal obligations". The legal
    obligation for invoices is the Polish Tax Ordinance, Art. 86 § 1: 5 years from the end of the calendar
    year in which the tax fell due. Both clocks on closed accounts (the user's own and the one for accounts
    an organisation manages) must say, in the records of processing, that invoices outlive them."""
    import csv
    import io

    from pledge.reports.ropa import build_ropa, to_csv

    ropa = build_ropa(policy(), load_dataset(HERE / "dataset.yaml"))
    retention = [r for r in csv.DictReader(io.StringIO(to_csv(ropa))) if r["section"] == "retention"]
    by_rule = {r["rule"]: r for r in retention}
    account_clocks = [r for r in retention if r["systems"] == "main.users" and r["trigger"].startswith("closed_at")]
    assert len(account_clocks) == 2, "a closed account of one's own, and one an organisation managed"
    for row in account_clocks:
        kept = [by_rule[k.strip()] for k in row["legal_basis_for_keeping"].split(";") if k.strip() in by_rule]
        assert [(k["systems"], k["period_iso"]) for k in kept] == [("main.invoices", "P5Y")], row["rule"]
        assert "Art. 86" in kept[0]["legal_basis_for_keeping"]
