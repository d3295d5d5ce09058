"""Access on the three example platforms, on SQLite, PostgreSQL and MariaDB.

For 20 random people (seeded) the rows that access finds must be exactly the rows that
plain SQL joins written here find: an independent ground truth, per platform.
"""

from __future__ import annotations

import json
import random
import zipfile
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text

from pledge.engine import Engine
from pledge.rights.access import write_access_zip
from pledge.rights.locate import locate
from pledge.settings import Settings
from tests.conftest import EXAMPLES

USERS = 120

# Each query returns the ids of one table's rows about the person with email :e.
U = "(SELECT id FROM users WHERE email = :e)"
OMNI_ONE = {
    "main.users": "SELECT id FROM users WHERE email = :e",
    "main.workspaces": f"SELECT id FROM workspaces WHERE owner_id IN {U}",
    "main.memberships": f"SELECT id FROM memberships WHERE user_id IN {U}",
    "main.invitations": f"SELECT id FROM invitations WHERE invited_by IN {U} OR email = :e",
    "main.projects": f"SELECT id FROM projects WHERE owner_id IN {U}",
    "main.personas": f"SELECT id FROM personas WHERE owner_id IN {U}",
    "main.conversations": f"SELECT id FROM conversations WHERE user_id IN {U}",
    "main.messages": "SELECT m.id FROM messages m LEFT JOIN conversations c ON c.id = m.conversation_id "
                     f"WHERE c.user_id IN {U} OR m.author_id IN {U}",
    "main.files": f"SELECT id FROM files WHERE owner_id IN {U}",
    "main.token_usage": f"SELECT id FROM token_usage WHERE user_id IN {U}",
    "main.invoices": f"SELECT id FROM invoices WHERE user_id IN {U}",
    "main.marketing_preferences": f"SELECT id FROM marketing_preferences WHERE user_id IN {U}",
    "main.login_sessions": f"SELECT id FROM login_sessions WHERE user_id IN {U}",
    "main.devices": f"SELECT id FROM devices WHERE user_id IN {U}",
    "main.analytics_events": f"SELECT id FROM analytics_events WHERE user_id IN {U}",
}

A = "(SELECT id FROM accounts WHERE email = :e)"
ONETAGGER = {
    "main.accounts": "SELECT id FROM accounts WHERE email = :e",
    "main.billing_profiles": f"SELECT id FROM billing_profiles WHERE account_id IN {A}",
    "main.containers": f"SELECT id FROM containers WHERE account_id IN {A}",
    "main.comments": f"SELECT id FROM comments WHERE account_id IN {A}",
    "main.support_tickets": f"SELECT id FROM support_tickets WHERE account_id IN {A}",
    "main.chat_transcripts": f"SELECT id FROM chat_transcripts WHERE account_id IN {A} OR visitor_email = :e",
    "main.survey_answers": f"SELECT id FROM survey_answers WHERE account_id IN {A}",
    "main.payments": f"SELECT id FROM payments WHERE account_id IN {A}",
    "main.web_logs": f"SELECT id FROM web_logs WHERE account_id IN {A}",
    "main.analytics_events": f"SELECT id FROM analytics_events WHERE account_id IN {A}",
    "main.newsletter_subscriptions": f"SELECT id FROM newsletter_subscriptions WHERE account_id IN {A} "
                                     "OR email = :e",
    "main.demo_accounts": "SELECT id FROM demo_accounts WHERE email = :e",
}

MEDIA = f"(SELECT id FROM media WHERE user_id IN {U})"
ONESTEPAI = {
    "main.users": "SELECT id FROM users WHERE email = :e",
    "main.organisations": f"SELECT id FROM organisations WHERE admin_user_id IN {U}",
    "main.api_keys": f"SELECT id FROM api_keys WHERE user_id IN {U}",
    "main.media": f"SELECT id FROM media WHERE user_id IN {U}",
    "main.annotations": f"SELECT id FROM annotations WHERE user_id IN {U} OR media_id IN {MEDIA}",
    "main.face_tags": f"SELECT id FROM face_tags WHERE media_id IN {MEDIA}",
    "main.predictions": f"SELECT id FROM predictions WHERE media_id IN {MEDIA}",
    "main.invoices": f"SELECT id FROM invoices WHERE user_id IN {U}",
    "main.social_logins": f"SELECT id FROM social_logins WHERE user_id IN {U}",
    "main.marketing_contacts": f"SELECT id FROM marketing_contacts WHERE user_id IN {U} OR email = :e",
    "main.api_access_log": "SELECT id FROM api_access_log WHERE user_id IN "
                           f"{U} OR api_key_id IN (SELECT id FROM api_keys WHERE user_id IN {U})",
}

TRUTH = {"omni-one": (OMNI_ONE, "users"), "onetagger": (ONETAGGER, "accounts"),
         "onestepai": (ONESTEPAI, "users")}


def platform_engine(name: str, url: str, tmp_path: Path) -> Engine:
    from pledge.platforms import create_platform

    dataset = EXAMPLES / name / "dataset.yaml"
    for needed in (dataset, EXAMPLES / name / "policy.yaml"):
        if not needed.exists():
            pytest.skip(f"{needed} is not written yet")
    create_platform(name, url, users=USERS, progress=False)
    cfg = tmp_path / "pledge.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": name, "platform": name, "policy": str(EXAMPLES / name / "policy.yaml"),
        "dataset": str(dataset), "platform_url": url, "store_url": f"sqlite:///{tmp_path / 'store.db'}",
    }))
    return Engine.from_config_file(cfg, Settings(environment="test"))


def ground_truth(url: str, queries: dict[str, str], email: str) -> dict[str, set[int]]:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            out = {k: {int(r[0]) for r in conn.execute(text(q), {"e": email})} for k, q in queries.items()}
    finally:
        eng.dispose()
    return {k: v for k, v in out.items() if v}


def people(url: str, table: str, n: int = 20, seed: int = 15) -> list[str]:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            emails = sorted(str(r[0]) for r in conn.execute(text(f"SELECT email FROM {table}")))
    finally:
        eng.dispose()
    return random.Random(seed).sample(emails, n)


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_access_equals_sql_ground_truth(name: str, any_db_url: str, tmp_path: Path) -> None:
    engine = platform_engine(name, any_db_url, tmp_path)
    queries, table = TRUTH[name]
    try:
        seen_tables: set[str] = set()
        for email in people(any_db_url, table):
            found = locate(engine, {"email": email})
            got = {k: {int(key[0]) for key in found.keys(k)} for k in found.counts()}
            assert got == ground_truth(any_db_url, queries, email), f"{name}: {email}"
            seen_tables.update(got)
        # the sample is rich enough to exercise most of the map
        assert len(seen_tables) >= len(queries) // 2
    finally:
        engine.close()


def test_onestepai_person_in_face_tags_gets_access(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'onestepai.db'}"
    engine = platform_engine("onestepai", url, tmp_path)
    try:
        eng = create_engine(url)
        with eng.connect() as conn:
            tag = conn.execute(text("SELECT person_tag FROM face_tags WHERE person_tag IS NOT NULL "
                                    "ORDER BY id LIMIT 1")).scalar_one()
            ids = {r[0] for r in conn.execute(text("SELECT id FROM face_tags WHERE person_tag = :t"), {"t": tag})}
            users = {r[0] for r in conn.execute(text("SELECT email FROM users"))}
        eng.dispose()
        out = tmp_path / "tagged.zip"
        export = write_access_zip(engine, {"person_tag": tag}, out)
        assert {k[0] for k in export.located.keys("main.face_tags")} == ids
        assert "main.users" not in export.located.counts()  # not a user, and no user's account leaks
        with zipfile.ZipFile(out) as zf:
            data = json.loads(zf.read("data.json"))
            page = zf.read("index.html").decode()
            assert "csv/main.face_tags.csv" in zf.namelist()
        rows = data["collections"]["main.face_tags"]["rows"]
        assert {r["id"] for r in rows} == ids and all(r["person_tag"] == tag for r in rows)
        assert not users.intersection(json.dumps(data).split('"'))
        assert data["information"]["purposes"], "the policy's purposes for face data are stated"
        assert "Your rights" in page
    finally:
        engine.close()


def test_omni_one_access_page_names_purposes_recipients_retention(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'omni.db'}"
    engine = platform_engine("omni-one", url, tmp_path)
    try:
        eng = create_engine(url)
        with eng.connect() as conn:
            email = conn.execute(text("SELECT u.email FROM users u JOIN invoices i ON i.user_id = u.id "
                                      "ORDER BY u.id LIMIT 1")).scalar_one()
        eng.dispose()
        out = tmp_path / "omni.zip"
        export = write_access_zip(engine, {"email": email}, out)
        info = export.information
        with zipfile.ZipFile(out) as zf:
            page = zf.read("index.html").decode()
            names = zf.namelist()
        assert {"data.json", "index.html", "csv/main.users.csv", "csv/main.invoices.csv"} <= set(names)
        assert info["purposes"] and info["recipients"] and info["retention"]
        for item in (*info["purposes"][:3], *info["recipients"][:3], *info["retention"][:3]):
            assert str(item["name"]) in page or str(item["name"]).replace("&", "&amp;") in page
        assert any(e["key"] == "tax_records" for e in info["exemptions"])
    finally:
        engine.close()
