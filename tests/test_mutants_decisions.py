"""Tests written for mutants of ``pledge.consent.decisions`` that survived the suite (docs/mutation.md).

The rules of :meth:`DecisionService.decide` taken one at a time, on a service whose engine
is only a policy and a clock: which legal bases an objection stops, a parent's consent
recorded under the purpose the policy names, the reason given for a consent under an old
notice, and the answer for a purpose with no legal basis at all.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from pledge.consent.decisions import DecisionService, PersonState
from pledge.consent.facts import PersonFacts
from pledge.consent.ledger import Choice
from pledge.policy.model import Age, Changes, Purpose

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

