"""Small policies and data maps for the reports tests, used until (and beside) the examples.

The policies are built as dicts so a test can change one promise and write a new file.
Names and addresses are invented; no real personal data.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PLATFORMS = ("omni-one", "onetagger", "onestepai")


def english_policy() -> dict[str, Any]:
    return {
        "version": "2025.1", "effective": "2025-01-01", "language": "en", "regimes": ["gdpr"],
        "controller": {"name": "Sample Chat Ltd", "address": "1 Test Street, Dublin", "country": "IE",
                       "email": "privacy@example.test", "dpo": {"name": "DPO Office", "email": "dpo@example.test"}},
        "authority": {"name": "Data Protection Commission", "country": "IE", "url": "https://example.test/dpc"},
        "subjects": [{"key": "customer", "name": "Users"}],
        "categories": [
            {"key": "user.contact.email", "name": "Email address", "subjects": ["customer"],
             "sources": [{"kind": "provided"}]},
            {"key": "user.name", "name": "Name", "sources": [{"kind": "provided"}]},
            {"key": "user.content", "name": "Conversations", "sources": [{"kind": "provided"}]},
            {"key": "user.financial", "name": "Billing data",
             "sources": [{"kind": "third_party", "party": "Payments Co"}]},
            {"key": "user.device.ip_address", "name": "IP address", "sources": [{"kind": "automatic"}]},
        ],
        "purposes": [
            {"key": "service", "name": "Provide the chat service", "data_use": "essential.service",
             "legal_basis": "contract", "categories": ["user.contact.email", "user.name", "user.content"],
             "subjects": ["customer"]},
            {"key": "billing", "name": "Billing and tax records", "data_use": "essential.service.payment_processing",
             "legal_basis": "legal_obligation", "categories": ["user.financial", "user.name"]},
            {"key": "security", "name": "Keep the service secure", "data_use": "essential.service.security",
             "legal_basis": "legitimate_interests", "legitimate_interest": "Preventing abuse and fraud",
             "objectable": True, "categories": ["user.device.ip_address"]},
            {"key": "newsletter", "name": "Product newsletter", "data_use": "marketing.communications.email",
             "legal_basis": "consent", "consent_required": True, "withdrawal": "the unsubscribe link",
             "categories": ["user.contact.email"]},
        ],
        "recipients": [
            {"key": "stripe", "name": "Stripe", "service": "payments", "countries": ["US"], "transfer": "dpf",
             "dpa": True, "purposes": ["billing"]},
            {"key": "mailer", "name": "Mail Sender", "service": "email delivery", "countries": ["DE"],
             "dpa": True, "purposes": ["newsletter"]},
            {"key": "llm", "name": "Model Router", "service": "AI model routing", "countries": ["US", "GB"],
             "transfer": "scc", "purposes": ["service"], "retention_period": "P30D"},
        ],
        "exemptions": [
            {"key": "tax", "name": "Tax records", "law": "Taxes Consolidation Act 1997 s.886", "period": "P5Y",
             "trigger": "issued_at", "categories": ["user.financial"], "collections": ["main.invoices"]},
        ],
        "retention": [
            {"key": "deleted_account", "name": "Closed accounts", "categories": ["user.contact.email", "user.name"],
             "collections": ["main.users"], "trigger": "closed_at", "period": "P90D", "exemptions": ["tax"]},
            {"key": "ip_logs", "name": "Access logs", "collections": ["main.sessions"], "trigger": "created_at",
             "period": "P12M"},
        ],
        "rights": {"offered": [{"kind": "access", "channels": [{"kind": "email", "address": "privacy@example.test"}]},
                               {"kind": "erasure"}, {"kind": "portability"}]},
        "changes": {"notice_period": "P30D", "material_reconsent": True, "channels": ["email", "web"]},
        "security": [{"key": "tls", "description": "TLS for all traffic"}],
        "automated_decisions": {"used": False, "statement": "No decisions are made solely by automated means."},
        "backups": {"retention": "P30D"},
    }


def polish_policy() -> dict[str, Any]:
    return {
        "version": "2024-05", "language": "pl", "regimes": ["gdpr"],
        "controller": {"name": "Tagi Testowe sp. z o.o.", "address": "ul. Testowa 1, 00-001 Warszawa",
                       "country": "PL", "email": "rodo@example.test", "registration": {"KRS": "0000000000"}},
        "authority": {"name": "Prezes Urzędu Ochrony Danych Osobowych", "country": "PL",
                      "address": "ul. Stawki 2, 00-193 Warszawa"},
        "subjects": [{"key": "customer", "name": "Klienci"}],
        "categories": [
            {"key": "user.contact.email", "name": "Adres e-mail", "sources": [{"kind": "provided"}]},
            {"key": "user.contact.phone_number", "name": "Numer telefonu", "sources": [{"kind": "provided"}]},
            {"key": "user.device.cookie_id", "name": "Identyfikatory plików cookie",
             "sources": [{"kind": "third_party", "party": "Google Analytics"}]},
        ],
        "purposes": [
            {"key": "account", "name": "Prowadzenie konta", "data_use": "essential.service", "legal_basis": "contract",
             "categories": ["user.contact.email", "user.contact.phone_number"]},
            {"key": "analytics", "name": "Statystyki odwiedzin", "data_use": "analytics.reporting",
             "legal_basis": "consent", "consent_required": True,
             "categories": ["user.device.cookie_id"]},
            {"key": "claims", "name": "Dochodzenie roszczeń", "data_use": "essential.service",
             "legal_basis": "legitimate_interests", "legitimate_interest": "Ustalenie i obrona roszczeń",
             "categories": ["user.contact.email"]},
        ],
        "recipients": [
            {"key": "google", "name": "Google Ireland Ltd", "service": "Google Analytics", "countries": ["IE", "US"],
             "transfer": "dpf", "purposes": ["analytics"]},
        ],
        "exemptions": [{"key": "accounting", "name": "Dokumenty księgowe", "law": "art. 74 ustawy o rachunkowości",
                        "period": "P5Y", "categories": ["user.contact.email"]}],
        "retention": [
            {"key": "inactive", "name": "Konta nieaktywne", "categories": ["user.contact.email"],
             "trigger": "last_login_at", "period": "P12M", "exemptions": ["accounting"]},
            {"key": "analytics", "name": "Dane analityczne", "categories": ["user.device.cookie_id"],
             "trigger": "created_at", "period": "P24M"},
        ],
        "changes": {"channels": ["web"]},
    }


def dataset() -> dict[str, Any]:
    """The data map that goes with :func:`english_policy`."""
    return {"name": "sample", "databases": [{"name": "main", "collections": [
        {"name": "users", "fields": [
            {"name": "id", "primary_key": True, "identity": "user_id"},
            {"name": "email", "categories": ["user.contact.email"], "identity": "email"},
            {"name": "name", "categories": ["user.name"]},
            {"name": "status"}]},
        {"name": "messages", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "user_id", "references": [{"field": "main.users.id"}]},
            {"name": "content", "categories": ["user.content"]}]},
        {"name": "invoices", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "user_id", "references": [{"field": "main.users.id"}]},
            {"name": "billing_name", "categories": ["user.financial", "user.name"]}]},
        {"name": "sessions", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "user_id", "references": [{"field": "main.users.id"}]},
            {"name": "ip_address", "categories": ["user.device.ip_address"]}]},
        {"name": "newsletter", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "email", "categories": ["user.contact.email"], "identity": "email"}]},
    ]}]}


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def write_config(tmp: Path, policy: dict[str, Any], data: dict[str, Any] | None = None,
                 platform_url: str | None = None) -> Path:
    write_yaml(tmp / "policy.yaml", policy)
    write_yaml(tmp / "dataset.yaml", data or dataset())
    cfg = {"name": "sample", "policy": "policy.yaml", "dataset": "dataset.yaml",
           "platform_url": platform_url or f"sqlite:///{tmp / 'platform.db'}",
           "store_url": f"sqlite:///{tmp / 'store.db'}"}
    return write_yaml(tmp / "pledge.yaml", cfg)


def example_or_sample(platform: str) -> tuple[Path | None, Path | None]:
    """The example's policy and dataset files when they exist (they are being written)."""
    folder = EXAMPLES / platform
    pol, ds = folder / "policy.yaml", folder / "dataset.yaml"
    return (pol if pol.exists() else None, ds if ds.exists() else None)


def sample_for(platform: str) -> dict[str, Any]:
    return copy.deepcopy(polish_policy() if platform == "onetagger" else english_policy())
