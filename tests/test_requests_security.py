"""No person can obtain another's package: codes, links, status tokens, platform tokens, org admins."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from fastapi.testclient import TestClient

from pledge.devmail import DevMail
from pledge.engine import Engine
from pledge.rights.delivery import DeliveryError
from pledge.rights.requests import RequestStateError
from pledge.rights.verify import VerificationError, make_platform_token
from pledge.web.app import create_app
from tests.requests_support import (
    START,
    Clock,
    code_from,
    deployment,
    mails_to,
    make_engine,
    some_users,
)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deployment(tmp_path_factory.mktemp("omni"), "omni-one", users=30)


def started(engine: Engine, email: str, kind: str = "access", **kw: object) -> str:
    r = engine.requests.create(kind, {"email": email}, **kw)  # type: ignore[arg-type]
    return engine.requests.start_verification(r.id).id


def completed(engine: Engine, sink: DevMail, email: str) -> str:
    rid = started(engine, email)
    engine.requests.verify_code(rid, code_from(sink, email))
    return engine.requests.approve(rid, actor="dpo").id


def test_guessing_codes_hits_the_attempt_limit_and_denies(engine: Engine, sink: DevMail, cfg: Path) -> None:
    email = some_users(cfg, 1)[0]["email"]
    rid = started(engine, email)
    right = code_from(sink, email)
    limit = engine.policy.verification.max_attempts
    wrong = [g for g in (f"{i:04d}-{i:04d}" for i in range(1, limit + 2)) if g != right][:limit]
    for guess in wrong[:-1]:
        with pytest.raises(VerificationError) as err:
            engine.requests.verify_code(rid, guess)
        assert err.value.reason == "wrong"
    with pytest.raises(VerificationError) as err:
        engine.requests.verify_code(rid, wrong[-1])
    assert err.value.reason == "locked"
    view = engine.requests.get(rid)
    assert view.state == "denied" and view.denial_ground == "identity_not_verified"
    with pytest.raises(RequestStateError):  # the right code is useless now
        engine.requests.verify_code(rid, right)
    assert any("cannot carry out" in m["Subject"] for m in mails_to(sink, email))


def test_a_code_works_once_and_only_for_its_own_request(engine: Engine, sink: DevMail, cfg: Path) -> None:
    ann, bob = (u["email"] for u in some_users(cfg, 2))
    a = started(engine, ann)
    code_a = code_from(sink, ann)
    b = started(engine, bob)
    with pytest.raises(VerificationError):
        engine.requests.verify_code(b, code_a)  # Ann's code does not open Bob's request
    assert engine.requests.verify_code(a, code_a).state == "verified"
    with pytest.raises(RequestStateError):
        engine.requests.verify_code(a, code_a)  # reuse


def test_an_expired_code_fails_and_a_new_one_works(engine: Engine, sink: DevMail, cfg: Path, clock: Clock) -> None:
    email = some_users(cfg, 3)[2]["email"]
    rid = started(engine, email)
    code = code_from(sink, email)
    clock.advance(minutes=16)  # code_ttl is 15 minutes
    with pytest.raises(VerificationError) as err:
        engine.requests.verify_code(rid, code)
    assert err.value.reason == "expired"
    engine.requests.resend_code(rid)
    fresh = code_from(sink, email)
    assert engine.requests.verify_code(rid, fresh).state == "verified"


def test_links_are_bound_to_their_request_and_expire(engine: Engine, sink: DevMail, cfg: Path) -> None:
    ann, bob = (u["email"] for u in some_users(cfg, 5)[3:5])
    a, b = completed(engine, sink, ann), completed(engine, sink, bob)
    delivery = engine.requests.delivery
    sig_a = delivery.sign(a, engine.requests.get(a).result["export"])
    assert delivery.open_signed(a, sig_a)[1].startswith(b"PK")
    with pytest.raises(DeliveryError):
        delivery.open_signed(b, sig_a)  # Ann's link on Bob's request
    tampered = sig_a[:-2] + ("AA" if not sig_a.endswith("AA") else "BB")
    with pytest.raises(DeliveryError) as err:
        delivery.open_signed(a, tampered)
    assert err.value.reason == "bad_signature"
    # swap the export token inside the signed value: the signature no longer matches
    token_b = engine.requests.get(b).result["export"]
    forged = sig_a.replace(engine.requests.get(a).result["export"], token_b)
    with pytest.raises(DeliveryError):
        delivery.open_signed(a, forged)
    with time_machine.travel(START.replace(year=2099), tick=False), pytest.raises(DeliveryError) as err:
        delivery.open_signed(a, sig_a)
    assert err.value.reason in ("expired", "bad_signature")


def test_purged_exports_are_gone(engine: Engine, sink: DevMail, cfg: Path, clock: Clock) -> None:
    email = some_users(cfg, 6)[5]["email"]
    rid = completed(engine, sink, email)
    token = engine.requests.get(rid).result["export"]
    files = list((cfg.parent / ".pledge" / "exports").glob(f"{token}.bin"))
    assert files and email.encode() not in files[0].read_bytes()  # encrypted at rest
    clock.advance(days=31)
    assert engine.requests.delivery.purge() >= 1
    assert not files[0].exists()
    with pytest.raises(DeliveryError) as err:
        engine.requests.delivery.open_signed(rid, engine.requests.delivery.sign(rid, token))
    assert err.value.reason == "purged"



def test_the_daily_housekeeping_purges_old_exports_and_proves(engine: Engine, sink: DevMail, cfg: Path,
                                                              clock: Clock) -> None:
    """What runs after each daily sweep, in `pledge serve`'s scheduler and in Celery beat's
    task alike (pledge.retention.scheduler.after_sweep): exports past their download period
    are deleted without anyone running `pledge requests purge-exports`, and the proof runs."""
    from sqlalchemy import func, select

    from pledge.retention.scheduler import after_sweep
    from pledge.store.tables.prove import prove_runs

    email = some_users(cfg, 7)[6]["email"]
    token = engine.requests.get(completed(engine, sink, email)).result["export"]
    path = cfg.parent / ".pledge" / "exports" / f"{token}.bin"
    with engine.store.connect() as conn:
        proofs = conn.execute(select(func.count()).select_from(prove_runs)).scalar_one()
    clock.advance(days=29)  # still within its download period: kept
    after_sweep(engine)
    assert path.exists()
    clock.advance(days=2)
    after_sweep(engine)
    assert not path.exists()
    with engine.store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(prove_runs)).scalar_one() == proofs + 2

def test_status_tokens_and_downloads_over_http(engine: Engine, sink: DevMail, cfg: Path) -> None:
    ann, bob = (u["email"] for u in some_users(cfg, 8)[6:8])
    client = TestClient(create_app(engine))
    created = {}
    for email in (ann, bob):
        res = client.post("/v1/requests", json={"kind": "access", "email": email})
        assert res.status_code == 201
        assert res.json()["status_token"] is None  # no status link before the email is proven
        rid = res.json()["request"]["id"]
        verified = client.post(f"/v1/requests/{rid}/verify", json={"code": code_from(sink, email)})
        assert verified.status_code == 200 and verified.json()["status_token"]
        created[email] = {"request": res.json()["request"], "status_token": verified.json()["status_token"]}
        engine.requests.approve(rid, actor="dpo")
    a, b = created[ann]["request"]["id"], created[bob]["request"]["id"]
    assert client.get(f"/v1/requests/{a}", params={"token": created[bob]["status_token"]}).status_code == 403
    assert client.get(f"/v1/requests/{a}").status_code == 401
    own = client.get(f"/v1/requests/{a}", params={"token": created[ann]["status_token"]})
    assert own.status_code == 200 and own.json()["download_url"]
    link_a = own.json()["download_url"]
    assert client.get(link_a).status_code == 200
    assert client.get(link_a).status_code == 410  # a download link works once
    fresh = client.get(f"/v1/requests/{a}", params={"token": created[ann]["status_token"]}).json()["download_url"]
    assert fresh != link_a and client.get(fresh).status_code == 200
    assert client.get(link_a.replace(a, b, 1)).status_code == 403  # the link on another path
    assert client.get(f"/v1/requests/{a}/download", params={"sig": "x.y.z"}).status_code == 403
    for guess in ("000000", "123456"):
        client.post(f"/v1/requests/{b}/verify", json={"code": guess})  # b is already verified: 409
    assert client.post(f"/v1/requests/{b}/verify", json={"code": "000000"}).status_code == 409


def test_platform_tokens_check_signature_audience_expiry_and_person(engine: Engine, cfg: Path,
                                                                     clock: Clock) -> None:
    ann, bob = (u["email"] for u in some_users(cfg, 10)[8:10])
    secret = engine.requests.verifier.platform_secret()
    svc = engine.requests
    rid = svc.create("access", {"email": ann}, notify=False).id
    bad = [
        make_platform_token(secret, bob, now=clock.now),                       # another person
        make_platform_token("not-the-secret", ann, now=clock.now),             # wrong key
        make_platform_token(secret, ann, now=clock.now, audience="other"),     # wrong audience
        make_platform_token(secret, ann, now=clock.now - timedelta(hours=1)),  # expired
        make_platform_token(secret, ann, now=clock.now, ttl_seconds=86400),    # lives too long
    ]
    for token in bad:
        with pytest.raises(VerificationError):
            svc.verify_token(rid, token)
    good = svc.verify_token(rid, make_platform_token(secret, ann.upper(), now=clock.now))
    assert good.state == "verified" and good.assurance == "reasonably_high"


def test_ccpa_specific_pieces_need_the_stronger_proof(engine: Engine, sink: DevMail, cfg: Path,
                                                      clock: Clock) -> None:
    email = some_users(cfg, 11)[10]["email"]
    svc = engine.requests
    cats = started(engine, email, "ccpa_know")
    assert svc.verify_code(cats, code_from(sink, email)).state == "verified"
    specific = started(engine, email, "ccpa_know", params={"specific": True})
    after_code = svc.verify_code(specific, code_from(sink, email))
    assert after_code.state == "verifying" and after_code.needs == ["reasonably_high"]
    with pytest.raises(RequestStateError):
        svc.run(specific)
    token = make_platform_token(svc.verifier.platform_secret(), email, now=clock.now)
    assert svc.verify_token(specific, token).state == "verified"
    assert svc.get(cats).regime == "ccpa" and svc.get(cats).confirm_by is not None


@pytest.fixture(scope="module")
def onestep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deployment(tmp_path_factory.mktemp("osa"), "onestepai", users=40)


def test_org_managed_account_waits_for_its_administrator(onestep: Path, sink: DevMail, tmp_path: Path) -> None:
    members = some_users(onestep, 1, where="organisation_id IS NOT NULL AND id NOT IN "
                                          "(SELECT admin_user_id FROM organisations WHERE admin_user_id IS NOT NULL) "
                                          "AND organisation_id IN (SELECT id FROM organisations "
                                          "WHERE admin_user_id IS NOT NULL)")
    if not members:
        pytest.skip("the generated onestepai sample has no managed member")
    email = members[0]["email"]
    eng = make_engine(onestep, Clock(START), sink.port, database_url=f"sqlite:///{tmp_path / 's.db'}")
    svc = eng.requests
    admin = svc.verifier.org_admin_for(email)
    assert admin is not None and admin.email.lower() != email.lower()
    rid = started(eng, email)
    assert "org_admin" in svc.get(rid).needs
    after_code = svc.verify_code(rid, code_from(sink, email))
    assert after_code.state == "verifying" and after_code.needs == ["org_admin"]
    asked = mails_to(sink, admin.email)
    assert asked and "organisation" in asked[-1]["Subject"]
    other = svc.create("access", {"email": "someone@example.org"}, notify=False).id
    with pytest.raises(VerificationError):
        svc.confirm_org_admin(rid, svc.verifier.org_admin_token(other))  # a link for another request
    with pytest.raises(VerificationError):
        svc.confirm_org_admin(rid, "forged.token")
    assert svc.confirm_org_admin(rid, svc.verifier.org_admin_token(rid)).state == "verified"
    eng.close()
