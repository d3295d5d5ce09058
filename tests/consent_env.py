"""A small deployment for the consent tests: policy, dataset and a platform users table.

Everything is written under the test's own ``tmp_path``; people come from Faker.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from faker import Faker
from sqlalchemy import create_engine, text

from pledge.engine import Engine
from pledge.settings import Settings

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

POLICY: dict[str, Any] = {
    "version": "2026-01",
    "language": "en",
    "controller": {"name": "Example Ltd", "country": "PL", "email": "privacy@example.test"},
    "age": {"minimum": 13, "parental_consent_from": 13, "parental_consent_until": 18,
            "consent_purpose": "parental_consent"},
    "purposes": [
        {"key": "service", "name": "Providing the service", "data_use": "essential.service",
         "legal_basis": "contract"},
        {"key": "tax", "name": "Tax records", "data_use": "essential.service.payment_processing",
         "legal_basis": "legal_obligation"},
        {"key": "security", "name": "Security", "data_use": "essential.service.security",
         "legal_basis": "legitimate_interests", "legitimate_interest": "keeping accounts safe",
         "objectable": True},
        {"key": "marketing_email", "name": "Marketing email", "data_use": "marketing.communications.email",
         "legal_basis": "consent", "consent_required": True},
        {"key": "analytics", "name": "Analytics cookies", "data_use": "analytics.reporting",
         "legal_basis": "consent", "consent_required": True},
        {"key": "parental_consent", "name": "A parent's consent for a user aged 13 to 18",
         "data_use": "essential.service", "legal_basis": "consent", "consent_required": True},
        {"key": "ad_sharing", "name": "Sharing with ad partners", "data_use": "marketing.advertising.third_party",
         "legal_basis": "consent", "consent_required": True, "sells_or_shares": True},
    ],
    "cookies": [
        {"key": "essential", "name": "Essential", "cookies": ["session"]},
        {"key": "functional", "name": "Functional", "cookies": ["lang"]},
        {"key": "analytics", "name": "Analytics", "purposes": ["analytics"], "cookies": ["_ga"]},
        {"key": "marketing", "name": "Marketing", "purposes": ["ad_sharing"], "sells_or_shares": True},
    ],
}

DATASET: dict[str, Any] = {
    "name": "example",
    "databases": [{"name": "main", "collections": [{
        "name": "users",
        "fields": [
            {"name": "id", "primary_key": True},
            {"name": "email", "identity": "email", "categories": ["user.contact.email"]},
            {"name": "birth_date", "categories": ["user.demographic.date_of_birth"]},
            {"name": "parental_consent"},
            {"name": "status"},
        ],
    }]}],
}


def make_deployment(tmp_path: Path, policy: dict[str, Any] | None = None,
                    dataset: dict[str, Any] | None = None) -> Path:
    """Write pledge.yaml, policy.yaml, dataset.yaml and an empty users table."""
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy or POLICY), encoding="utf-8")
    (tmp_path / "dataset.yaml").write_text(yaml.safe_dump(dataset or DATASET), encoding="utf-8")
    (tmp_path / "pledge.yaml").write_text(yaml.safe_dump({
        "name": "example", "policy": "policy.yaml", "dataset": "dataset.yaml",
        "platform_url": "sqlite:///platform.db", "store_url": "sqlite:///store.db",
    }), encoding="utf-8")
    eng = create_engine(f"sqlite:///{tmp_path / 'platform.db'}")
    with eng.begin() as conn:
        conn.execute(text(
            "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, birth_date DATE, "
            "parental_consent BOOLEAN NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'active', "
            "created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"))
    eng.dispose()
    return tmp_path / "pledge.yaml"


def make_engine(tmp_path: Path, store_url: str | None = None, **kw: Any) -> Engine:
    cfg = make_deployment(tmp_path, **kw)
    settings = Settings(environment="test", database_url=store_url)
    return Engine.from_config_file(cfg, settings, clock=lambda: NOW)


def add_user(engine: Engine, email: str | None = None, *, birth: date | None = None,
             parental: bool = False, status: str = "active") -> str:
    email = email or Faker().unique.email()
    with engine.platform_engine("main").begin() as conn:
        conn.execute(text("INSERT INTO users (email, birth_date, parental_consent, status) "
                          "VALUES (:e, :b, :p, :s)"), {"e": email, "b": birth, "p": parental, "s": status})
    return email
