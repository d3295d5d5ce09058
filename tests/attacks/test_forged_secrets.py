"""Forged tokens (security issue #12): nothing written in the source is a key.

Pledge once signed everything with a development secret written in its source, used
whenever ``PLEDGE_ENVIRONMENT`` was not ``production``. Whoever read the source could sign
platform sign-in tokens, status links and console cookies. Here the attacker has the
source and nothing else: every string literal in ``src/`` (and in the example configs)
is tried as the deployment's key, and as the platform secret derived from it, against a
Pledge served over real HTTP:

- a platform sign-in JWT (HS256, the claims ``make_platform_token`` writes) on
  ``POST /v1/requests`` (a new request) and on ``POST /v1/requests/{id}/verify``,
- a status token (itsdangerous, salt ``pledge.request.status``) on
  ``GET /v1/requests/{id}?token=``,
- an admin console cookie (salt ``admin-session``) that carries a live session's token.

Each attack first proves that it works: the same forgery made with the deployment's
real key (which the test reads behind the attacker's back) is accepted. Then every
literal is refused. The outcome is read from the store with plain SQL where it matters.

It also checks the way keys are made: ``pledge serve`` without keys exits 2 and names
``pledge keys init``; a key file other users can read is refused; the demo writes its
own 0600 key file.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
import yaml
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

from pledge.keys import PURPOSES, KeysMissing, load_keyring, write_keys_file
from pledge.settings import Settings
from tests.attacks.support import STORES, Target, served
from tests.conftest import EXAMPLES, ROOT

PLEDGE = str(Path(sys.executable).parent / "pledge")
#: secrets Pledge itself once shipped as defaults: they must never work again
FORMER_DEFAULTS = ("pledge-development-secret-change-me",)
KEY_VARS = [f"PLEDGE_{field.upper()}" for field in PURPOSES.values()]


def source_strings() -> list[str]:
    """Every string (and bytes) literal in src/, f-string parts included, and every
    scalar of the example and packaged YAML files: what an attacker reads in the source."""
    found: set[str] = set(FORMER_DEFAULTS)
    for path in sorted((ROOT / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
            elif isinstance(node, ast.Constant) and isinstance(node.value, bytes):
                found.add(node.value.decode("utf-8", "replace"))

    def scalars(value: Any) -> Iterator[str]:
        if isinstance(value, dict):
            for k, v in value.items():
                yield from scalars(k)
                yield from scalars(v)
        elif isinstance(value, list):
            for v in value:
                yield from scalars(v)
        elif value is not None:
            yield str(value)

    for path in sorted([*EXAMPLES.rglob("*.yaml"), *EXAMPLES.rglob("*.yml"), *(ROOT / "src").rglob("*.yaml")]):
        found.update(scalars(yaml.safe_load(path.read_text(encoding="utf-8"))))
    return sorted(found)


LITERALS = source_strings()


def platform_secret_of(key: str) -> str:
    """How Pledge derives the platform's shared secret from a signing key."""
    return hmac.new(key.encode(), b"pledge platform token v1", hashlib.sha256).hexdigest()


def candidates(literals: Iterable[str]) -> list[str]:
    """Each literal as the platform secret itself and as a signing key it is derived from."""
    out: list[str] = []
    for lit in literals:
        out += [lit, platform_secret_of(lit)]
    return out


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def platform_jwt(secret: str, email: str) -> str:
    """An HS256 JWT with the claims ``make_platform_token`` writes, signed by hand (a JWT
    library refuses some keys, such as the empty string; an attacker's code need not)."""
    now = int(time.time())
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps({"email": email, "aud": "pledge", "iat": now, "exp": now + 600}).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


def sweep(base: str, attempt: Callable[[httpx.Client, str], bool], items: list[str], workers: int = 8) -> list[str]:
    """Run ``attempt(client, item)`` for every item over a few keep-alive connections;
    returns the items that succeeded."""
    chunks = [items[i::workers] for i in range(workers)]

    def run(chunk: list[str]) -> list[str]:
        with httpx.Client(base_url=base, timeout=30) as client:
            return [item for item in chunk if attempt(client, item)]

    with ThreadPoolExecutor(workers) as pool:
        return [hit for hits in pool.map(run, chunks) for hit in hits]


def some_email(t: Target) -> str:
    return str(t.platform_rows("SELECT email FROM users WHERE email IS NOT NULL ORDER BY id LIMIT 1")[0]["email"])


def test_the_literals_are_collected() -> None:
    assert len(LITERALS) > 1000  # the walk found the source
    assert "pledge.request.status" in LITERALS and "admin-session" in LITERALS  # ...salts included
    assert "pledge platform token v1" in LITERALS


# -- (a) platform sign-in tokens ------------------------------------------------------------------
@pytest.mark.parametrize("store", STORES)
def test_platform_tokens_signed_with_source_strings_verify_nobody(tmp_path: Path, store: str) -> None:
    with served(tmp_path, store, users=10) as t:
        email = some_email(t)
        with t.client() as client:
            # the control: a new request with a token under the real platform secret is verified at once
            real = platform_secret_of(t.engine.keys.secret)
            ok = client.post("/v1/requests", json={"kind": "access", "email": email,
                                                   "platform_token": platform_jwt(real, email)})
            assert ok.status_code == 201 and ok.json()["status_token"], ok.text
            control = ok.json()["request"]["id"]

            # new requests with tokens under the secrets Pledge once shipped, and under the
            # longest literals (the shape of a real key), are not (creating is rate limited
            # per client address, so these are few; the sweep below tries every literal)
            plausible = [*FORMER_DEFAULTS, *sorted(LITERALS, key=lambda s: (-len(s), s))[:3]]
            for secret in candidates(plausible):
                someone = f"p-{uuid.uuid4().hex[:8]}@example.org"
                r = client.post("/v1/requests", json={"kind": "access", "email": someone,
                                                      "platform_token": platform_jwt(secret, someone)})
                assert r.status_code == 400 and "not valid" in r.text, r.text

            # a request waiting for proof: every forged token is tried on it
            made = client.post("/v1/requests", json={"kind": "access", "email": email})
            assert made.status_code == 201, made.text
            rid = made.json()["request"]["id"]

        def verify(c: httpx.Client, secret: str) -> bool:
            r = c.post(f"/v1/requests/{rid}/verify", json={"platform_token": platform_jwt(secret, email)})
            assert r.status_code in (200, 400, 409), r.text  # 409: verified already, by an earlier forgery
            return r.status_code == 200

        # every literal on SQLite; on the server stores, the plausible ones (whether a token's
        # signature holds does not depend on the store: the full sweep there adds only minutes)
        assert sweep(t.url, verify, candidates(LITERALS if store == "sqlite" else plausible)) == []
        # read behind the attacker's back: only the control's request was ever verified
        rows = t.store_rows("SELECT public_id FROM requests WHERE verified_at IS NOT NULL")
        assert [r["public_id"] for r in rows] == [control]
        assert t.store_rows("SELECT state FROM requests WHERE public_id = :p", p=rid)[0]["state"] == "verifying"


# -- (b) status tokens --------------------------------------------------------------------------
def test_status_tokens_signed_with_source_strings_open_nothing(tmp_path: Path) -> None:
    with served(tmp_path, "sqlite", users=10) as t:
        with t.client() as client:
            made = client.post("/v1/requests", json={"kind": "access", "email": f"x-{uuid.uuid4().hex[:6]}@example.org"})
            assert made.status_code == 201, made.text
            rid = made.json()["request"]["id"]

            def forged(key: str) -> str:
                return URLSafeTimedSerializer(key, salt="pledge.request.status").dumps(rid)

            # the control: the real key's token opens the status; no token at all is refused
            assert client.get(f"/v1/requests/{rid}", params={"token": forged(t.engine.keys.secret)}).status_code == 200
            assert client.get(f"/v1/requests/{rid}").status_code in (401, 403)

        def attempt(c: httpx.Client, key: str) -> bool:
            r = c.get(f"/v1/requests/{rid}", params={"token": forged(key)})
            assert r.status_code in (200, 403, 422), r.text
            return r.status_code == 200

        assert sweep(t.url, attempt, LITERALS) == []


# -- (c) admin console cookies ------------------------------------------------------------------
def test_console_cookies_signed_with_source_strings_sign_nobody_in(tmp_path: Path) -> None:
    with served(tmp_path, "sqlite", users=10) as t:
        password = "a-long-test-password-1"
        user, uri = t.engine.admins.create_user("owner@example.org", "owner", password=password, actor="test")
        with t.client() as client:  # a real sign-in over HTTP: the cookie it sets is genuine
            page = client.get("/admin/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf is not None
            res = client.post("/admin/login", data={"email": user.email, "password": password,
                                                    "code": pyotp.parse_uri(uri).now(), "csrf": csrf.group(1)})
            assert res.status_code == 303, res.text
            cookie = client.cookies.get("pledge_admin")
            assert cookie
        # the session token inside the cookie is only signed, not secret from its holder
        token = URLSafeSerializer("unused", salt="admin-session").loads_unsafe(cookie)[1]
        assert isinstance(token, str)

        def signed_in(c: httpx.Client, key: str) -> bool:
            forged = URLSafeSerializer(key, salt="admin-session").dumps(token)
            r = c.get("/admin", headers={"Cookie": f"pledge_admin={forged}"})
            assert r.status_code in (200, 303, 401), r.text
            return r.status_code == 200

        with t.client() as control:
            assert signed_in(control, t.engine.keys.secret)  # the real key signs a cookie that works
        assert sweep(t.url, signed_in, LITERALS) == []


# -- no keys, no server ------------------------------------------------------------------------
@pytest.fixture
def copied_example(tmp_path: Path) -> Path:
    folder = tmp_path / "omni-one"
    shutil.copytree(EXAMPLES / "omni-one", folder, ignore=shutil.ignore_patterns("*.db*", ".pledge"))
    return folder / "pledge.yaml"


@pytest.fixture
def no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process without the session's PLEDGE_* keys (tests get them from conftest)."""
    for var in [*KEY_VARS, "PLEDGE_KEYS_FILE", "PLEDGE_DATABASE_URL", "PLEDGE_PLATFORM_URL", "PLEDGE_ENVIRONMENT"]:
        monkeypatch.delenv(var, raising=False)


def keyless_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS and k != "PLEDGE_KEYS_FILE"}
    env.update({"PLEDGE_ENVIRONMENT": "development", "COLUMNS": "300"})
    for var in ("PLEDGE_DATABASE_URL", "PLEDGE_PLATFORM_URL", "PLEDGE_BROKER_URL"):
        env.pop(var, None)
    return env


def test_serve_without_keys_exits_and_says_how_to_make_them(copied_example: Path) -> None:
    for environment in ("development", "production"):
        out = subprocess.run([PLEDGE, "serve", "-c", str(copied_example), "--port", "1"],
                             env={**keyless_env(), "PLEDGE_ENVIRONMENT": environment},
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, (out.stdout, out.stderr)
        message = " ".join(out.stderr.split())
        assert "pledge keys init" in message and "PLEDGE_SECRET_KEY" in message
        assert "Traceback" not in out.stderr
    assert not (copied_example.parent / ".pledge" / "keys.json").exists()  # serve never makes keys


def test_keys_init_show_and_rotate(copied_example: Path, no_key_env: None) -> None:
    env = keyless_env()
    made = subprocess.run([PLEDGE, "keys", "init", "-c", str(copied_example)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    path = copied_example.parent / ".pledge" / "keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys = load_keyring(Settings(), copied_example.parent / ".pledge")
    # four different keys, none of them a string from the source
    assert len({keys.secret, keys.subject_secret, keys.audit_secret, keys.encryption[0]}) == 4
    assert not {keys.secret, keys.subject_secret, keys.audit_secret, keys.encryption[0]} & set(LITERALS)
    again = subprocess.run([PLEDGE, "keys", "init", "-c", str(copied_example)], env=env, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 2 and "already exists" in again.stderr
    shown = subprocess.run([PLEDGE, "keys", "show", "-c", str(copied_example)], env=env, capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert keys.secret not in shown.stdout and "signing" in shown.stdout
    rotated = subprocess.run([PLEDGE, "keys", "rotate", "--purpose", "signing", "-c", str(copied_example)],
                             env=env, capture_output=True, text=True, timeout=60)
    assert rotated.returncode == 0, rotated.stderr
    after = load_keyring(Settings(), copied_example.parent / ".pledge")
    assert after.signing[1:] == keys.signing and after.secret != keys.secret  # the old key still verifies
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_key_file_others_can_read_is_refused(tmp_path: Path, no_key_env: None) -> None:
    state = tmp_path / ".pledge"
    path = write_keys_file(state / "keys.json")
    bare = Settings()
    assert load_keyring(bare, state).secret
    path.chmod(0o644)
    with pytest.raises(KeysMissing, match="chmod 600"):
        load_keyring(bare, state)
    with pytest.raises(FileExistsError):  # and a key file is never overwritten
        write_keys_file(path)


def test_the_demo_makes_its_own_0600_key_file(copied_example: Path, no_key_env: None) -> None:
    from pledge.demo import prepare_demo

    first = prepare_demo(copied_example, users=10, mail=False)
    try:
        path = copied_example.parent / ".pledge" / "keys.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        keys = first.engine.keys
        assert keys.source == str(path) and keys.secret not in LITERALS
        saved = path.read_text()
    finally:
        first.engine.close()
    second = prepare_demo(copied_example, users=10, mail=False)  # the next start keeps them
    try:
        assert path.read_text() == saved and second.engine.keys.secret == keys.secret
        assert not second.admin.created  # the owner's TOTP secret still decrypts
    finally:
        second.engine.close()
    # keys lost (or a store from before the demo had keys): new keys, and the store that
    # no key opens any more is set aside rather than failing the start
    path.unlink()
    third = prepare_demo(copied_example, users=10, mail=False)
    try:
        assert third.engine.keys.secret != keys.secret and third.admin.created
        assert (copied_example.parent / ".pledge" / "store.db.before-keys").exists()
    finally:
        third.engine.close()
