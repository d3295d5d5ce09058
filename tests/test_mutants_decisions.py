"""Tests written for mutants of ``pledge.consent.decisions`` that survived the suite (docs/mutation.md).

The rules of :meth:`DecisionService.decide` taken one at a time, on a service whose engine
is only a policy and a clock: which legal bases an objection stops, a parent's consent
recorded under the purpose the policy names, the reason given for a consent under an old
notice, and the answer for a purpose with no legal basis at all.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text

from pledge.consent.decisions import Decision, DecisionService, PersonState
from pledge.consent.facts import PersonFacts
from pledge.consent.ledger import Choice
from pledge.engine import Engine
from pledge.policy.model import Age, Changes, Purpose
from pledge.settings import Settings
from tests.consent_env import NOW as ENV_NOW
from tests.consent_env import add_user, make_deployment

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def purpose(key: str = "p", **fields: object) -> Purpose:
    return Purpose(key=key, name=key, data_use=str(fields.pop("data_use", "essential.service")),
                   **fields)


def service(age: Age | None = None, material_reconsent: bool = False, version: str = "v2") -> DecisionService:
    # built with its collaborators; decide() reads only the policy and the clock, so no store
    policy = SimpleNamespace(age=age, version=version, changes=Changes(material_reconsent=material_reconsent))
    return DecisionService(None, None, policy, subject_secrets=1,  # type: ignore[arg-type]
                           facts=lambda email: PersonFacts(found=True), clock=lambda: NOW)


def state(*, objected: set[str] | None = None, consents: dict[str, Choice] | None = None,
          birth: date | None = None) -> PersonState:
    return PersonState(key="k", facts=PersonFacts(found=True, birth_date=birth), consents=consents or {},
                       restricted_all=False, restricted=set(), objected=objected or set(), gpc=None)


def given(key: str, notice: str = "v2") -> Choice:
    return Choice(purpose=key, state="given", notice_version=notice, at=NOW, gpc=None)


@pytest.mark.parametrize("basis", ["legitimate_interests", "public_task", "consent"])
def test_an_objection_stops_each_basis_art_21_binds(basis: str) -> None:
    p = purpose(legal_basis=basis)
    assert DecisionService._objection_binds(p)
    consents = {"p": given("p")}
    decision = service().decide(state(objected={"p"}, consents=consents), p)
    assert (decision.allowed, decision.code) == (False, "objected")


def test_an_objection_does_not_stop_a_contract() -> None:
    p = purpose(legal_basis="contract")
    assert not DecisionService._objection_binds(p)
    assert service().decide(state(objected={"p"}), p).allowed


def test_parental_consent_counts_under_the_purpose_the_policy_names() -> None:
    age = Age(minimum=13, parental_consent_from=13, parental_consent_until=18, consent_purpose="guardian_ok")
    child = date(2011, 6, 1)  # 14 on NOW
    p = purpose(legal_basis="contract")
    svc = service(age=age)
    missing = svc.decide(state(birth=child), p)
    assert (missing.allowed, missing.code) == (False, "parental_consent_missing")
    assert svc.decide(state(birth=child, consents={"guardian_ok": given("guardian_ok")}), p).allowed


def test_consent_under_an_old_notice_says_which_notices() -> None:
    p = purpose(legal_basis="consent", consent_required=True)
    decision = service(material_reconsent=True, version="v2").decide(
        state(consents={"p": given("p", notice="v1")}), p)
    assert decision == type(decision)(False, "consent was given under notice v1; notice v2 needs it again",
                                      "reconsent_needed")


def test_a_purpose_without_a_legal_basis_says_so() -> None:
    decision = service().decide(state(), purpose(legal_basis=None))
    assert (decision.allowed, decision.reason, decision.code) == (True, "no basis given: no consent needed",
                                                                  "no_basis")
    named = service().decide(state(), purpose(legal_basis="legitimate_interests"))
    assert named.reason == "legitimate interests: no consent needed"



def test_a_batch_decides_as_one_at_a_time_and_follows_every_change(tmp_path: Path) -> None:
    """``DecisionService.many``: the same answers as ``may`` for each (email, purpose), served from the cache
    while nothing changed, and a withdrawal shows on the very next batch. ``forget``: the platform changed
    what it knows of a person (here the account was closed), so every process decides again at once."""
    settings = Settings(environment="test", database_url=f"sqlite:///{tmp_path / 'store.db'}")
    cfg = make_deployment(tmp_path)
    one, two = (Engine.from_config_file(cfg, settings, clock=lambda: ENV_NOW) for _ in range(2))
    try:
        adult, other = add_user(one, birth=date(1990, 5, 5)), add_user(one, birth=date(1985, 1, 1))
        one.consent.record(adult, "marketing_email", "given")
        items = [(adult, "marketing_email"), (other, "marketing_email"), (adult, "tax"), (adult, "security")]
        expected = [(True, "consent_given"), (False, "no_consent"), (True, "legal_obligation"),
                    (True, "legitimate_interests")]
        for _ in range(2):  # decided, then served from the cache
            assert [(d.allowed, d.code) for d in two.decisions.many(items)] == expected
            assert [(d.allowed, d.code) for d in (two.may(e, p) for e, p in items)] == expected
        assert two.decisions.many(items[:1])[0].as_dict() == {
            "allowed": True, "reason": "consent given on 2026-06-01 under notice 2026-01", "code": "consent_given"}

        one.consent.record(adult, "marketing_email", "withdrawn")  # another process
        assert [d.code for d in two.decisions.many(items)][:2] == ["consent_withdrawn", "no_consent"]

        assert two.may(adult, "security").allowed  # cached in the second process
        with one.platform_engine("main").begin() as conn:
            conn.execute(text("UPDATE users SET status = 'closed' WHERE email = :e"), {"e": adult})
        one.decisions.forget(adult)
        assert (two.may(adult, "security").code, two.decisions.many(items[3:])[0].code) == (
            "account_closed", "account_closed")
        assert two.may(other, "service").allowed, "only the forgotten person is decided again"
    finally:
        one.close()
        two.close()


@pytest.mark.parametrize("fields", [{"data_use": "marketing.communications.email"}, {"objectable": True},
                                    {"consent_required": True}])
def test_an_objection_to_direct_marketing_or_an_objectable_purpose_binds_whatever_the_basis(
        fields: dict[str, Any]) -> None:
    """Art. 21(2)-(3) GDPR: "Where personal data are processed for direct marketing purposes, the data subject
    shall have the right to object at any time … the personal data shall no longer be processed for such
    purposes"; a purpose the policy marks objectable, or one that needs consent, stops on an objection too."""
    p = purpose(legal_basis="contract", **fields)
    assert DecisionService._objection_binds(p)
    assert service().decide(state(objected={"p"}, consents={"p": given("p")}), p).code == "objected"


def test_only_a_parents_consent_lets_a_child_in() -> None:
    """A child between the ages the policy names needs "a parent's or guardian's consent": any other consent
    the child gave does not count, and a consent recorded under a parental purpose does, also when the policy
    names no purpose for it."""
    child = date(2011, 6, 1)  # 14 on NOW
    p = purpose(legal_basis="contract")
    age = Age(minimum=13, parental_consent_from=13, parental_consent_until=18)
    svc = service(age=age)
    own = svc.decide(state(birth=child, consents={"newsletter": given("newsletter")}), p)
    assert (own.allowed, own.code) == (False, "parental_consent_missing")
    assert svc.decide(state(birth=child, consents={"parental_consent": given("parental_consent")}), p).allowed


def test_each_consent_answer_gives_its_reason_and_code() -> None:
    """The reason is what the API and the console show: no consent, withdrawn or refused on a day, given."""
    p = purpose(legal_basis="consent", consent_required=True)

    def choice(state_: str) -> Choice:
        return Choice(purpose="p", state=state_, notice_version="v2", at=NOW, gpc=None)
    svc = service(version="v2")
    answers = [svc.decide(state(consents=c), p) for c in ({}, {"p": choice("withdrawn")}, {"p": choice("refused")},
                                                          {"p": choice("given")})]
    assert [(d.allowed, d.reason, d.code) for d in answers] == [
        (False, "no consent recorded", "no_consent"),
        (False, "consent withdrawn on 2026-03-01", "consent_withdrawn"),
        (False, "consent refused on 2026-03-01", "consent_refused"),
        (True, "consent given on 2026-03-01 under notice v2", "consent_given")]


def test_a_consent_under_an_older_notice_still_counts_when_the_policy_asks_no_new_consent() -> None:
    """Only a policy with ``changes.material_reconsent`` asks for consent again after a new notice."""
    p = purpose(legal_basis="consent", consent_required=True)
    old = {"p": given("p", notice="v1")}
    assert service(material_reconsent=False, version="v2").decide(state(consents=old), p).code == "consent_given"
    assert service(material_reconsent=True, version="v2").decide(state(consents=old), p).code == "reconsent_needed"


def test_the_minimum_age_and_a_closed_account_refuse_with_their_reasons() -> None:
    """"under 13 … nothing may be processed": someone exactly 13 is not under it. A closed (or otherwise ended)
    account refuses everything but legal obligations, and says what state the account is in."""
    age = Age(minimum=13)
    svc = service(age=age)
    p = purpose(legal_basis="contract")
    twelve = svc.decide(state(birth=date(2013, 3, 2)), p)  # 12 on 1 March 2026
    assert (twelve.allowed, twelve.reason, twelve.code) == (
        False, "under 13: below the minimum age, nothing may be processed", "below_minimum_age")
    assert svc.decide(state(birth=date(2013, 3, 1)), p).allowed, "13 today: not under the minimum"

    def ended(status: str | None) -> PersonState:
        return PersonState(key="k", facts=PersonFacts(found=True, closed=True, status=status), consents={},
                           restricted_all=False, restricted=set(), objected=set(), gpc=None)
    assert svc.decide(ended("suspended"), p) == type(twelve)(False, "the account is suspended", "account_closed")
    assert svc.decide(ended(None), p).reason == "the account is closed"
    assert svc.decide(ended("closed"), purpose(legal_basis="legal_obligation")).allowed


def test_a_batch_honours_global_privacy_control(tmp_path: Path) -> None:
    """"Global Privacy Control is on: no sale or sharing" holds for a batch of decisions as for one."""
    settings = Settings(environment="test", database_url=f"sqlite:///{tmp_path / 'store.db'}")
    engine = Engine.from_config_file(make_deployment(tmp_path), settings, clock=lambda: ENV_NOW)
    try:
        email = add_user(engine, birth=date(1990, 5, 5))
        engine.consent.record(email, "ad_sharing", "given")
        assert engine.decisions.many([(email, "ad_sharing")])[0].code == "consent_given"
        assert [d.code for d in engine.decisions.many([(email, "ad_sharing"), (email, "service")], gpc=True)] == [
            "gpc", "contract"]
    finally:
        engine.close()


def test_the_parental_ages_are_counted_from_and_until_as_the_policy_says() -> None:
    """``parental_consent_from: 13`` and ``until`` (default 18): a 13-year-old needs a parent's consent, a
    17-year-old too, an 18-year-old does not."""
    p = purpose(legal_basis="contract")
    for age, until in ((Age(minimum=13, parental_consent_from=13, parental_consent_until=18), 18),
                       (Age(minimum=13, parental_consent_from=13), None)):
        svc = service(age=age)
        thirteen, seventeen, eighteen = (svc.decide(state(birth=date(2026 - years, 3, 1)), p)
                                         for years in (13, 17, 18))
        assert (thirteen.code, seventeen.code, eighteen.code) == (
            "parental_consent_missing", "parental_consent_missing", "contract"), until
        assert thirteen.reason == "aged 13: needs a parent's or guardian's consent, which is missing"


def test_every_refusal_gives_its_reason() -> None:
    """The reasons the API and the console show for a restriction (Art. 18), an objection (Art. 21), Global
    Privacy Control, no account for a contract, and a purpose whose basis is consent (asked even when the
    policy does not also mark it consent_required)."""
    svc = service()
    restricted = PersonState(key="k", facts=PersonFacts(found=True), consents={}, restricted_all=True,
                             restricted=set(), objected=set(), gpc=None)
    assert svc.decide(restricted, purpose(legal_basis="contract")) == Decision(
        False, "processing is restricted (Art. 18 GDPR): only storage is allowed", "restricted")
    assert svc.decide(state(objected={"p"}), purpose(legal_basis="legitimate_interests")) == Decision(
        False, "the person objected to this purpose (Art. 21 GDPR)", "objected")
    sharing = purpose(legal_basis="consent", consent_required=True, sells_or_shares=True)
    assert svc.decide(state(consents={"p": given("p")}), sharing, gpc=True) == Decision(
        False, "Global Privacy Control is on: no sale or sharing", "gpc")
    nobody = PersonState(key="k", facts=PersonFacts(found=False), consents={}, restricted_all=False,
                         restricted=set(), objected=set(), gpc=None)
    assert svc.decide(nobody, purpose(legal_basis="contract")) == Decision(
        False, "no account in the platform: no contract to perform", "no_account")
    assert svc.decide(state(), purpose(legal_basis="consent")).code == "no_consent"
