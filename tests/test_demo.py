"""``pledge demo``: the platform and a console owner made once, reused on the next start."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pledge.cli import app
from pledge.demo import DEMO_ADMIN_EMAIL, admin_file, prepare_demo
from pledge.web.app import create_app
from tests.conftest import EXAMPLES


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "omni-one"
    shutil.copytree(EXAMPLES / "omni-one", folder, ignore=shutil.ignore_patterns("*.db*", ".pledge"))
    for var in ("PLEDGE_DATABASE_URL", "PLEDGE_PLATFORM_URL", "PLEDGE_ENVIRONMENT"):
        monkeypatch.delenv(var, raising=False)
    return folder / "pledge.yaml"


def test_demo_makes_its_owner_once_and_reuses_it(example: Path) -> None:
    first = prepare_demo(example, users=25, mail=False)
    try:
        admin = first.admin
        assert admin.created and admin.email == DEMO_ADMIN_EMAIL and len(admin.password) >= 12
        saved = admin_file(first.engine)
        assert saved.parent == example.parent / ".pledge"
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        assert json.loads(saved.read_text())["password"] == admin.password
        # the printed secret is the one the console checks; the URI carries it too
        assert pyotp.parse_uri(admin.otpauth_uri).secret == admin.totp_secret
        user = first.engine.admins.authenticate(admin.email, admin.password, admin.code())
        assert user is not None and user.role == "owner"
    finally:
        first.engine.close()

    second = prepare_demo(example, users=25, mail=False)
    try:
        again = second.admin
        assert not again.created
        assert (again.email, again.password, again.totp_secret) == (admin.email, admin.password, admin.totp_secret)
        assert [u.email for u in second.engine.admins.users()] == [DEMO_ADMIN_EMAIL]
    finally:
        second.engine.close()


def test_a_reset_store_gets_the_same_sign_in_back(example: Path) -> None:
    first = prepare_demo(example, users=25, mail=False)
    first.engine.close()
    (example.parent / ".pledge" / "store.db").unlink()
    second = prepare_demo(example, users=25, mail=False)
    try:
        assert second.admin.created and second.admin.password == first.admin.password
        assert second.engine.admins.check_password(second.admin.email, first.admin.password) is not None
    finally:
        second.engine.close()


def test_home_page_of_the_demo_names_the_controller(example: Path) -> None:
    demo = prepare_demo(example, users=25, mail=False)
    try:
        with TestClient(create_app(demo.engine)) as client:
            res = client.get("/")
            assert res.status_code == 200
            assert demo.engine.policy.controller.name in res.text
            assert client.get("/", params={"lang": "pl"}).status_code == 200
    finally:
        demo.engine.close()


def test_admin_totp_prints_the_current_code_in_development_only(example: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    demo = prepare_demo(example, users=25, mail=False)
    demo.engine.close()
    runner = CliRunner()
    res = runner.invoke(app, ["admin", "totp", "-c", str(example), "--email", DEMO_ADMIN_EMAIL])
    assert res.exit_code == 0, res.output
    code = res.stdout.strip().splitlines()[0]
    assert pyotp.TOTP(demo.admin.totp_secret).verify(code, valid_window=1)
    unknown = runner.invoke(app, ["admin", "totp", "-c", str(example), "--email", "nobody@pledge.localhost"])
    assert unknown.exit_code == 2 and "no admin user" in unknown.output
    monkeypatch.setenv("PLEDGE_ENVIRONMENT", "production")
    refused = runner.invoke(app, ["admin", "totp", "-c", str(example), "--email", DEMO_ADMIN_EMAIL])
    assert refused.exit_code == 2 and "refused" in refused.output and code not in refused.stdout
