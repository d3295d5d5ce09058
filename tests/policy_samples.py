"""A small, lawful policy and dataset for the policy tests; each test breaks one thing."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

GOOD_POLICY: dict[str, Any] = {
    "version": "1",
    "regimes": ["gdpr", "ccpa"],
    "controller": {"name": "Acme Sp. z o.o.", "country": "PL", "email": "privacy@acme.example"},
    "subjects": [{"key": "customer", "name": "Customers"}],
    "categories": [
        {"key": "user.contact.email", "name": "Email", "subjects": ["customer"]},
        {"key": "user.name", "name": "Name", "subjects": ["customer"]},
    ],
    "purposes": [
        {"key": "service", "name": "Run the service", "data_use": "essential.service",
         "legal_basis": "contract", "categories": ["user.contact.email", "user.name"]},
        {"key": "newsletter", "name": "Newsletter", "data_use": "marketing.communications.email",
         "legal_basis": "consent", "consent_required": True, "withdrawal": "the unsubscribe link",
         "categories": ["user.contact.email"]},
        {"key": "security", "name": "Security", "data_use": "essential.service.security",
         "legal_basis": "legitimate_interests", "legitimate_interest": "keeping accounts safe",
         "objectable": True},
    ],
    "recipients": [
        {"key": "hosting", "name": "Hoster GmbH", "service": "hosting", "countries": ["DE"]},
        {"key": "mailer", "name": "Mailer Inc.", "service": "email", "countries": ["US"], "transfer": "dpf",
         "purposes": ["newsletter"], "categories": ["user.contact.email"]},
    ],
    "exemptions": [
        {"key": "accounting", "name": "Invoices", "law": "Art. 74 Polish Accounting Act", "period": "P5Y",
         "collections": ["main.invoices"]},
    ],
    "retention": [
        {"key": "closed", "name": "Closed accounts", "trigger": "closed_at", "period": "P90D",
         "collections": ["main.users"], "categories": ["user.contact.email"], "exemptions": ["accounting"]},
    ],
    "rights": {
        "deadlines": [
            {"regime": "gdpr", "respond": "P1M", "extension": "P2M"},
            {"regime": "ccpa", "respond": "P45D", "extension": "P45D"},
        ],
        "promise": "P14D",
    },
    "age": {"minimum": 16},
}

GOOD_DATASET: dict[str, Any] = {
    "name": "acme",
    "databases": [{"name": "main", "collections": [
        {"name": "users", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "email", "categories": ["user.contact.email"], "identity": "email"},
            {"name": "name", "categories": ["user.name"]},
            {"name": "closed_at"},
        ]},
        {"name": "invoices", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "user_id", "references": [{"field": "main.users.id"}]},
            {"name": "created_at"},
        ]},
    ]}],
}


def good_policy() -> dict[str, Any]:
    return copy.deepcopy(GOOD_POLICY)


def good_dataset() -> dict[str, Any]:
    return copy.deepcopy(GOOD_DATASET)


def write(path: Path, data: dict[str, Any] | str) -> Path:
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path
