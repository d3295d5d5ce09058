"""W3C Data Privacy Vocabulary (DPV) terms for legal bases, transfers and rights.

``dpv:`` is https://w3id.org/dpv# and ``eu-gdpr:`` is https://w3id.org/dpv/legal/eu/gdpr#.
Exports carry these terms next to the plain-language names so that other tools can read them.
"""

from __future__ import annotations

DPV = "https://w3id.org/dpv#"
EU_GDPR = "https://w3id.org/dpv/legal/eu/gdpr#"

LEGAL_BASIS: dict[str, tuple[str, str]] = {
    # policy value: (DPV term, GDPR provision term)
    "consent": ("dpv:Consent", "eu-gdpr:A6-1-a"),
    "contract": ("dpv:Contract", "eu-gdpr:A6-1-b"),
    "legal_obligation": ("dpv:LegalObligation", "eu-gdpr:A6-1-c"),
    "vital_interests": ("dpv:VitalInterest", "eu-gdpr:A6-1-d"),
    "public_task": ("dpv:PublicTask", "eu-gdpr:A6-1-e"),
    "legitimate_interests": ("dpv:LegitimateInterest", "eu-gdpr:A6-1-f"),
}

LEGAL_BASIS_ARTICLE = {
    "consent": "Art. 6(1)(a)", "contract": "Art. 6(1)(b)", "legal_obligation": "Art. 6(1)(c)",
    "vital_interests": "Art. 6(1)(d)", "public_task": "Art. 6(1)(e)", "legitimate_interests": "Art. 6(1)(f)",
}

SPECIAL_BASIS: dict[str, str] = {
    "explicit_consent": "eu-gdpr:A9-2-a", "employment": "eu-gdpr:A9-2-b", "vital_interests": "eu-gdpr:A9-2-c",
    "not_for_profit": "eu-gdpr:A9-2-d", "made_public": "eu-gdpr:A9-2-e", "legal_claims": "eu-gdpr:A9-2-f",
    "substantial_public_interest": "eu-gdpr:A9-2-g", "health_care": "eu-gdpr:A9-2-h",
    "public_health": "eu-gdpr:A9-2-i", "archiving": "eu-gdpr:A9-2-j",
}

TRANSFER: dict[str, tuple[str, str]] = {
    # policy value: (DPV term, GDPR provision term)
    "adequacy": ("dpv:AdequacyDecision", "eu-gdpr:A45-3"),
    "dpf": ("dpv:AdequacyDecision", "eu-gdpr:A45-3"),
    "scc": ("dpv:StandardContractualClauses", "eu-gdpr:A46-2-c"),
    "bcr": ("dpv:BindingCorporateRules", "eu-gdpr:A46-2-b"),
    "derogation": ("dpv:DataTransferLegalBasis", "eu-gdpr:A49-1"),
    "consent": ("dpv:ExplicitlyExpressedConsent", "eu-gdpr:A49-1-a"),
    # Invalidated by the CJEU (C-362/14 and C-311/18): kept so that old policies still export.
    "privacy_shield": ("dpv:AdequacyDecision", "eu-gdpr:A45-3"),
    "swiss_us_privacy_shield": ("dpv:AdequacyDecision", "eu-gdpr:A45-3"),
}

TRANSFER_NAME = {
    "adequacy": "adequacy decision (Art. 45)",
    "dpf": "EU-US Data Privacy Framework adequacy decision (Art. 45)",
    "scc": "standard contractual clauses (Art. 46(2)(c))",
    "bcr": "binding corporate rules (Art. 47)",
    "derogation": "derogation for a specific situation (Art. 49)",
    "consent": "explicit consent to the transfer (Art. 49(1)(a))",
    "privacy_shield": "EU-US Privacy Shield (invalid since C-311/18, 16 July 2020)",
    "swiss_us_privacy_shield": "Swiss-US Privacy Shield (no longer recognised)",
}

#: Transfer mechanisms that no longer make a transfer lawful.
INVALID_TRANSFERS = frozenset({"privacy_shield", "swiss_us_privacy_shield"})

RIGHT: dict[str, str] = {
    "access": "eu-gdpr:A15", "rectification": "eu-gdpr:A16", "erasure": "eu-gdpr:A17",
    "restriction": "eu-gdpr:A18", "portability": "eu-gdpr:A20", "objection": "eu-gdpr:A21",
    "withdraw_consent": "eu-gdpr:A7-3", "automated_decision": "eu-gdpr:A22", "complaint": "eu-gdpr:A77",
}

#: Countries of the EU and EEA: a processor there is not a third-country transfer.
EEA = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU",
    "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
})


def legal_basis_terms(basis: str | None) -> tuple[str, str]:
    return LEGAL_BASIS.get(basis or "", ("", ""))


def transfer_terms(mechanism: str | None) -> tuple[str, str]:
    return TRANSFER.get(mechanism or "", ("", ""))


def is_third_country(country: str) -> bool:
    """Outside the EU/EEA ("EU" and "EEA" themselves, as a region, are inside)."""
    return country.upper() not in EEA | {"EU", "EEA"}
