"""Notices: Polish and English emails land in a real SMTP sink; Art. 19 webhooks are signed
and verified by a real local HTTP server; acknowledgements are tracked; admin users and keys."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pledge.admins import AdminError
from pledge.cli import app
from pledge.devmail import DevMail
from pledge.engine import Engine
from pledge.web.app import create_app
from tests.requests_support import (
    START,
    code_from,
    deployment,
    mails_to,
    some_users,
)


class Hook:
    """A local webhook receiver that checks the signature with the secret it was given."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.secret = ""
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(hook.secret.encode(), body, hashlib.sha256).hexdigest()
                ok = hmac.compare_digest(expected, self.headers.get("X-Pledge-Signature", ""))
                hook.received.append({"ok": ok, "body": json.loads(body)})
                self.send_response(204 if ok else 401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory, hook: Hook) -> Path:
    path = deployment(tmp_path_factory.mktemp("omni"), "omni-one", users=20)
    policy = path.parent / "policy.yaml"
    text = policy.read_text(encoding="utf-8")
    text = text.replace("  - key: openrouter\n", "  - key: openrouter\n"
                        f"    notify: {{url: 'http://127.0.0.1:{hook.port}/art19'}}\n", 1)
    text = text.replace("  - key: stripe\n", "  - key: stripe\n    notify: {email: privacy@stripe.example}\n", 1)
    policy.write_text(text, encoding="utf-8")
    return path


def test_polish_emails_at_each_step(engine: Engine, sink: DevMail, cfg: Path) -> None:
    email = some_users(cfg, 1)[0]["email"]
    svc = engine.requests
    r = svc.create("access", {"email": email}, lang="pl")
    svc.start_verification(r.id)
    svc.verify_code(r.id, code_from(sink, email))
    svc.extend(r.id, "Musimy przeszukać archiwum", actor="dpo")
    svc.approve(r.id, actor="dpo")
    mails = mails_to(sink, email)
    subjects = [m["Subject"] for m in mails]
    from email.header import decode_header, make_header

    subjects = [str(make_header(decode_header(s))) for s in subjects]
    assert any(s.startswith("Otrzymaliśmy Twoje żądanie") for s in subjects)
    assert any(s.startswith("Twój kod weryfikacyjny") for s in subjects)
    assert any("potwierdzona" in s for s in subjects)
    assert any("więcej czasu" in s for s in subjects)
    assert any("zrealizowane" in s for s in subjects)
    assert all(m["Content-Language"] == "pl" for m in mails)
    body = mails[-1].get_payload(decode=True).decode()
    assert "Dostęp do danych (art. 15 RODO)" in body and f"/privacy/status/{r.id}?token=" in body


def test_english_denial_names_the_ground(engine: Engine, sink: DevMail, cfg: Path) -> None:
    email = some_users(cfg, 2)[1]["email"]
    r = engine.requests.create("erasure", {"email": email})
    engine.requests.deny(r.id, "legal_claims", note="A dispute about invoice 12 is pending.", actor="dpo")
    body = mails_to(sink, email)[-1].get_payload(decode=True).decode()
    assert "legal claims (GDPR Art. 17(3)(e))" in body and "invoice 12" in body and "uodo.gov.pl" in body


def test_art19_webhook_is_signed_and_email_sent_and_acks_tracked(engine: Engine, sink: DevMail, cfg: Path,
                                                                 hook: Hook) -> None:
    hook.secret = engine.requests.notices.webhook_secret("openrouter")
    email = some_users(cfg, 3)[2]["email"]
    svc = engine.requests
    r = svc.create("erasure", {"email": email}, notify=False)
    svc.start_verification(r.id)
    svc.verify_code(r.id, code_from(sink, email))
    done = svc.run(r.id, actor="dpo")
    assert done.state in ("completed", "partially_completed")
    got = [h for h in hook.received if h["body"]["request"] == r.id]
    assert len(got) == 1 and got[0]["ok"] and got[0]["body"]["identities"]["email"] == email.lower()
    notices = {n["recipient"]: n for n in svc.notices.sent(done)}
    assert notices["openrouter"]["status"] == "sent" and notices["stripe"]["status"] == "sent"
    assert mails_to(sink, "privacy@stripe.example")
    client = TestClient(create_app(engine))
    ack_url = got[0]["body"]["ack_url"]
    token = ack_url.split("token=", 1)[1]
    assert client.post("/v1/art19/ack", params={"token": token + "x"}).status_code == 403
    assert client.post("/v1/art19/ack", params={"token": token}).json() == {"acknowledged": True}
    notices = {n["recipient"]: n for n in svc.notices.sent(done)}
    assert notices["openrouter"]["acked_at"] is not None and notices["stripe"]["acked_at"] is None


def test_a_wrong_webhook_secret_is_refused_and_recorded(engine: Engine, sink: DevMail, cfg: Path,
                                                        hook: Hook) -> None:
    hook.secret = "not-what-pledge-signs-with"
    email = some_users(cfg, 4)[3]["email"]
    svc = engine.requests
    r = svc.open_on_initiative("restriction", {"email": email}, ground="legal_order", actor="dpo")
    done = svc.run(r.id, actor="dpo")
    assert hook.received[-1]["ok"] is False
    assert {n["recipient"]: n["status"] for n in svc.notices.sent(done)}["openrouter"] == "failed"


def test_admin_user_cli_and_two_factor(engine: Engine, cfg: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    out = CliRunner().invoke(app, ["admin", "create-user", "-c", str(cfg), "--email", "dpo@example.org",
                                   "--role", "owner", "--password", "correct horse battery"])
    assert out.exit_code == 0, out.output
    uri = next(line for line in out.stdout.splitlines() if line.startswith("otpauth://"))
    totp = pyotp.parse_uri(uri)
    bad_role = CliRunner().invoke(app, ["admin", "create-user", "-c", str(cfg), "--email", "x@example.org",
                                        "--role", "god", "--password", "correct horse battery"])
    assert bad_role.exit_code == 2
    admins = engine.admins
    code = totp.at(START)
    assert admins.authenticate("dpo@example.org", "wrong password!!", code) is None
    assert admins.authenticate("dpo@example.org", "correct horse battery", "000000" if code != "000000"
                               else "111111") is None
    user = admins.authenticate("DPO@example.org", "correct horse battery", code)
    assert user is not None and user.role == "owner" and user.can("approve")
    assert admins.authenticate("dpo@example.org", "correct horse battery", code) is None  # replay
    with pytest.raises(AdminError):
        admins.create_user("dpo@example.org", "viewer", password="another long one")
    viewer, _ = admins.create_user("v@example.org", "viewer", password="another long one")
    assert not viewer.can("approve") and not viewer.can("download") and viewer.can("view")


def test_api_keys_are_scoped(engine: Engine, cfg: Path) -> None:
    email = some_users(cfg, 5)[4]["email"]
    client = TestClient(create_app(engine))
    reader = engine.admins.create_api_key("dashboard", ["requests:read"])
    writer = engine.admins.create_api_key("crm", ["requests:write", "requests:approve", "requests:read"])
    with pytest.raises(AdminError):
        engine.admins.create_api_key("x", ["everything"])
    made = client.post("/v1/requests", json={"kind": "access", "email": email},
                       headers={"Authorization": f"Bearer {writer}"})
    assert made.status_code == 201 and made.json()["request"]["source"] == "api"
    rid = made.json()["request"]["id"]
    auth_r = {"Authorization": f"Bearer {reader}"}
    assert client.get(f"/v1/requests/{rid}", headers=auth_r).status_code == 200
    assert client.post(f"/v1/requests/{rid}/deny", json={"ground": "manifestly_unfounded"},
                       headers=auth_r).status_code == 403
    forged = {"Authorization": f"Bearer {writer[:-3]}abc"}
    assert client.get("/v1/requests", headers=forged).status_code == 401  # not a valid key at all
    denied = client.post(f"/v1/requests/{rid}/deny", json={"ground": "manifestly_unfounded"},
                         headers={"Authorization": f"Bearer {writer}"})
    assert denied.status_code == 200 and denied.json()["state"] == "denied"
    prefix = writer.split("_")[1]
    assert engine.admins.revoke_api_key(prefix)
    assert client.get("/v1/requests", headers={"Authorization": f"Bearer {writer}"}).status_code == 401
