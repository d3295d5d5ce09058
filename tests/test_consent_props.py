"""Random sequences of consent, withdrawal, objection and restriction events, checked
after every step against a small reference model written here, independently of
``pledge.consent.decisions``. Every decision is asked twice (cold, then cached) so a
stale cache shows as a mismatch."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, update

from pledge.consent import versions
from pledge.engine import Engine
from pledge.store.tables.rights import objections, restrictions
from tests.consent_env import NOW, POLICY, add_user, make_engine

PURPOSES = {p["key"]: p for p in POLICY["purposes"] if p["key"] != "parental_consent"}
CONSENT_PURPOSES = [k for k, p in PURPOSES.items() if p.get("consent_required")]


@dataclass
class Model:
    consent: dict[str, str] = field(default_factory=dict)
    objected: set[str] = field(default_factory=set)
    restricted: set[str | None] = field(default_factory=set)

    def allowed(self, purpose: str, gpc: bool) -> bool:
        p = PURPOSES[purpose]
        basis = p["legal_basis"]
        if basis != "legal_obligation" and (None in self.restricted or purpose in self.restricted):
            return False
        objection_binds = (basis in ("legitimate_interests", "consent") or p.get("objectable")
                           or p.get("consent_required") or p["data_use"].startswith("marketing"))
        if purpose in self.objected and objection_binds:
            return False
        if p.get("sells_or_shares") and gpc:
            return False
        if p.get("consent_required") or basis == "consent":
            return self.consent.get(purpose) == "given"
        return True


purpose_st = st.sampled_from(sorted(PURPOSES))
events = st.one_of(
    st.tuples(st.just("consent"), st.sampled_from(CONSENT_PURPOSES), st.sampled_from(["given", "withdrawn",
                                                                                       "refused"])),
    st.tuples(st.just("object"), purpose_st, st.just("")),
    st.tuples(st.just("withdraw_objection"), purpose_st, st.just("")),
    st.tuples(st.just("restrict"), st.one_of(st.none(), purpose_st), st.just("")),
    st.tuples(st.just("lift"), st.one_of(st.none(), purpose_st), st.just("")),
)


def apply(engine: Engine, model: Model, email: str, event: tuple[str, str | None, str]) -> None:
    kind, purpose, state = event
    key = engine.consent.subject_key(email)
    with engine.store.begin() as conn:
        if kind == "consent":
            assert purpose is not None
            engine.consent.record(email, purpose, state, conn=conn)
            model.consent[purpose] = state
        elif kind == "object" and purpose not in model.objected:
            conn.execute(insert(objections).values(subject_key=key, purpose=purpose, reason="", created_at=NOW))
            model.objected.add(purpose)  # type: ignore[arg-type]
        elif kind == "withdraw_objection":
            conn.execute(update(objections).where(objections.c.subject_key == key,
                                                  objections.c.purpose == purpose).values(withdrawn_at=NOW))
            model.objected.discard(purpose)  # type: ignore[arg-type]
        elif kind == "restrict" and purpose not in model.restricted:
            conn.execute(insert(restrictions).values(subject_key=key, purpose=purpose, reason="",
                                                     created_at=NOW))
            model.restricted.add(purpose)
        elif kind == "lift":
            cond = (restrictions.c.purpose.is_(None) if purpose is None
                    else restrictions.c.purpose == purpose)
            conn.execute(update(restrictions).where(restrictions.c.subject_key == key, cond)
                         .values(lifted_at=NOW))
            model.restricted.discard(purpose)
        if kind != "consent":  # as rights code does: the person's counter moves in the same transaction
            versions.bump(conn, key)


def test_decisions_follow_the_reference_model(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(events, min_size=1, max_size=12), st.booleans())
    def run(sequence: list[tuple[str, str | None, str]], gpc: bool) -> None:
        email = add_user(engine, f"p{uuid.uuid4().hex[:12]}@example.test", birth=date(1985, 1, 1))
        model = Model()
        for purpose in PURPOSES:  # warm the cache before any event
            engine.may(email, purpose, gpc or None)
        for event in sequence:
            apply(engine, model, email, event)
            for purpose in PURPOSES:
                for _ in range(2):
                    got = engine.may(email, purpose, gpc or None)
                    assert got.allowed == model.allowed(purpose, gpc), (event, purpose, got, model)

    run()
    engine.close()
