"""Key rotation: after a new key is put in front, what the old keys made still works.

Subject keys: a person is still found by their email (requests, consent, restrictions)
when their rows carry the HMAC of an older subject key, and new rows use the newest.
Signing keys: a status token signed with an older key still opens its request. (Fernet
rotation is in test_requests_lifecycle; forged keys are in tests/attacks.)
"""

from __future__ import annotations

import os
from pathlib import Path

from pledge.engine import Engine
from pledge.keys import generate_keyring
from pledge.rights.restrict import is_restricted, lift_restriction, restrict, subject_keys_for
from tests.requests_support import START, Clock, deployment, make_engine


def _engine(cfg: Path, store: str, *, subject: str, signing: str) -> Engine:
    return make_engine(cfg, Clock(START), 9, database_url=store, subject_key=subject, secret_key=signing)


def test_rotated_subject_and_signing_keys_still_find_and_open_what_the_old_ones_made(tmp_path: Path) -> None:
    cfg = deployment(tmp_path, users=10)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    old_subject, new_subject = generate_keyring()["subject"], generate_keyring()["subject"]
    old_signing, new_signing = os.environ["PLEDGE_SECRET_KEY"], generate_keyring()["signing"]
    email = "Ann@Example.org"

    first = _engine(cfg, store, subject=old_subject, signing=old_signing)
    purpose = first.policy.purposes[0].key
    rid = first.requests.create("access", {"email": email}, notify=False).id
    first.consent.record(email, purpose, "given")
    restrict(first, email, purpose)
    token = first.requests.status_token(rid)
    first.close()

    rotated = _engine(cfg, store, subject=f"{new_subject},{old_subject}", signing=f"{new_signing},{old_signing}")
    try:
        assert [v.id for v in rotated.requests.find(email=email.lower())] == [rid]
        assert rotated.consent.current(email)[purpose].state == "given"
        assert rotated.requests.check_status_token(rid, token)  # signed with the old key
        assert rotated.requests.status_token(rid) != token  # new tokens use the new key
        assert is_restricted(rotated, subject_keys_for(rotated, email), purpose)
        # a new choice is written under the new key, and it is the one in force
        rotated.consent.record(email, purpose, "withdrawn")
        assert rotated.consent.current(email)[purpose].state == "withdrawn"
        assert [h["state"] for h in rotated.consent.history(email)] == ["given", "withdrawn"]
        assert lift_restriction(rotated, email, purpose)["lifted"]  # found under the old key
        assert not is_restricted(rotated, subject_keys_for(rotated, email), purpose)
    finally:
        rotated.close()

    # with the old keys dropped, nothing they made is found or opens any more
    dropped = _engine(cfg, store, subject=new_subject, signing=new_signing)
    try:
        assert dropped.requests.find(email=email) == []
        assert not dropped.requests.check_status_token(rid, token)
        assert [h["state"] for h in dropped.consent.history(email)] == ["withdrawn"]
    finally:
        dropped.close()
