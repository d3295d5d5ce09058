"""The fideslang taxonomy keys Pledge knows, and the legal tables the lint needs.

The keys follow fideslang's published default taxonomy (version 2 naming: data
categories under ``system`` and ``user``, data uses such as ``essential.service``,
data subjects such as ``customer``). A key that is not listed is not wrong — fideslang
lets organisations extend the taxonomy — so the lint only warns about it.

The legal tables are facts of the law as of 2025: the EEA member states, the countries
with an EU adequacy decision (Art. 45 GDPR), and each member state's age of digital
consent under Art. 8 GDPR.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pledge.policy.duration import Duration

__all__ = [
    "ADEQUATE",
    "ART8_AGE",
    "ART8_DEFAULT",
    "DATA_CATEGORIES",
    "DATA_SUBJECTS",
    "DATA_USES",
    "EEA",
    "LEGAL_DEADLINES",
    "closest",
    "in_eea",
    "known_category",
    "known_subject",
    "known_use",
]


def _tree(*keys: str) -> frozenset[str]:
    """Every key plus every ancestor of it (``a.b.c`` also adds ``a.b`` and ``a``)."""
    out: set[str] = set()
    for key in keys:
        parts = key.split(".")
        for i in range(1, len(parts) + 1):
            out.add(".".join(parts[:i]))
    return frozenset(out)


DATA_CATEGORIES: frozenset[str] = _tree(
    "system.authentication",
    "system.operations",
    "user.account.settings",
    "user.account.username",
    "user.authorization.credentials",
    "user.authorization.biometric",
    "user.authorization.password",
    "user.behavior.browsing_history",
    "user.behavior.media_consumption",
    "user.behavior.purchase_history",
    "user.behavior.search_history",
    "user.biometric.fingerprint",
    "user.biometric.retinal",
    "user.biometric.voice",
    "user.biometric.health",
    "user.childrens",
    "user.contact.address.city",
    "user.contact.address.country",
    "user.contact.address.postal_code",
    "user.contact.address.state",
    "user.contact.address.street",
    "user.contact.email",
    "user.contact.fax_number",
    "user.contact.organization",
    "user.contact.phone_number",
    "user.contact.url",
    "user.content.private",
    "user.content.public",
    "user.content.self_image",
    "user.criminal_history",
    "user.demographic.age_range",
    "user.demographic.date_of_birth",
    "user.demographic.gender",
    "user.demographic.language",
    "user.demographic.marital_status",
    "user.demographic.political_opinion",
    "user.demographic.profile",
    "user.demographic.race_ethnicity",
    "user.demographic.religious_belief",
    "user.demographic.sexual_orientation",
    "user.device.cookie_id",
    "user.device.device_id",
    "user.device.ip_address",
    "user.financial.bank_account",
    "user.financial.credit_card",
    "user.government_id.birth_certificate",
    "user.government_id.drivers_license_number",
    "user.government_id.immigration",
    "user.government_id.national_identification_number",
    "user.government_id.passport_number",
    "user.government_id.vehicle_registration",
    "user.health_and_medical.genetic",
    "user.health_and_medical.insurance_beneficiary_id",
    "user.health_and_medical.record_id",
    "user.job_title",
    "user.location.imprecise",
    "user.location.precise",
    "user.name.first",
    "user.name.last",
    "user.non_specific_age",
    "user.payment",
    "user.privacy_preferences",
    "user.sensor",
    "user.social",
    "user.telemetry",
    "user.unique_id.pseudonymous",
    "user.user_sensor",
    "user.workplace",
)
"""fideslang data category keys (with their ancestors)."""

#: Categories that are special (Art. 9 GDPR) or criminal (Art. 10) by their nature.
SPECIAL_CATEGORIES: frozenset[str] = frozenset({
    "user.biometric", "user.authorization.biometric", "user.health_and_medical", "user.criminal_history",
    "user.demographic.political_opinion", "user.demographic.race_ethnicity",
    "user.demographic.religious_belief", "user.demographic.sexual_orientation",
})

DATA_USES: frozenset[str] = _tree(
    "analytics.reporting.ad_performance",
    "analytics.reporting.campaign_insights",
    "analytics.reporting.content_performance",
    "analytics.reporting.system",
    "collect",
    "employment.recruitment",
    "essential.fraud_detection",
    "essential.legal_obligation",
    "essential.service.authentication",
    "essential.service.notifications.email",
    "essential.service.notifications.sms",
    "essential.service.operations.support.optimization",
    "essential.service.payment_processing",
    "essential.service.security",
    "essential.service.upgrades",
    "finance",
    "functional.service.improve",
    "functional.storage",
    "marketing.advertising.first_party.contextual",
    "marketing.advertising.first_party.targeted",
    "marketing.advertising.frequency_capping",
    "marketing.advertising.negative_targeting",
    "marketing.advertising.profiling",
    "marketing.advertising.third_party.targeted",
    "marketing.communications.email",
    "marketing.communications.sms",
    "personalize.content.limited",
    "personalize.content.profiled",
    "personalize.content.profiling",
    "personalize.system",
    "sales",
    "third_party_sharing.legal_obligation",
    "train_ai_system",
)
"""fideslang data use keys (with their ancestors)."""

DATA_SUBJECTS: frozenset[str] = frozenset({
    "anonymous_user", "citizen_voter", "commuter", "consultant", "customer", "employee",
    "job_applicant", "next_of_kin", "passenger", "patient", "prospect", "shareholder",
    "supplier_vendor", "trainee", "visitor",
})
"""fideslang data subject keys."""

EU: frozenset[str] = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
})
EEA: frozenset[str] = EU | {"IS", "LI", "NO"}
"""ISO 3166-1 alpha-2 codes of the European Economic Area (EL is accepted for Greece)."""

#: Countries with an EU adequacy decision under Art. 45 GDPR. The United States is
#: adequate only for organisations certified under the EU-US Data Privacy Framework
#: (decision of 10 July 2023), so it is not listed here: a US transfer needs ``dpf``,
#: ``scc`` or another mechanism.
ADEQUATE: frozenset[str] = frozenset({
    "AD", "AR", "CA", "CH", "FO", "GB", "GG", "IL", "IM", "JE", "JP", "KR", "NZ", "UY",
})

#: The age of digital consent each member state chose under Art. 8(1) GDPR.
ART8_AGE: dict[str, int] = {
    "AT": 14, "BE": 13, "BG": 14, "HR": 16, "CY": 14, "CZ": 15, "DK": 13, "EE": 13,
    "FI": 13, "FR": 15, "DE": 16, "GR": 15, "EL": 15, "HU": 16, "IE": 16, "IT": 14,
    "LV": 13, "LT": 14, "LU": 16, "MT": 13, "NL": 16, "PL": 16, "PT": 13, "RO": 16,
    "SK": 16, "SI": 15, "ES": 14, "SE": 13,
    # EEA states and the UK (UK GDPR, Data Protection Act 2018 s. 9)
    "IS": 13, "LI": 16, "NO": 13, "GB": 13,
}
#: Art. 8(1) default when a member state chose no other age.
ART8_DEFAULT = 16

#: The law's own deadlines per regime: (respond within, may extend by).
#: GDPR Art. 12(3): one month, extendable by two further months. CCPA (Cal. Civ.
#: Code 1798.130(a)(2)): 45 days, extendable once by 45 days.
LEGAL_DEADLINES: dict[str, tuple[Duration, Duration]] = {
    "gdpr": (Duration(months=1), Duration(months=2)),
    "uk_gdpr": (Duration(months=1), Duration(months=2)),
    "ccpa": (Duration(days=45), Duration(days=45)),
}


def in_eea(country: str) -> bool:
    code = country.strip().upper()
    return code in EEA or code in {"EL", "EU", "EEA"}


def known_category(key: str) -> bool:
    return key in DATA_CATEGORIES


def known_use(key: str) -> bool:
    return key in DATA_USES


def known_subject(key: str) -> bool:
    return key in DATA_SUBJECTS


def closest(key: str, choices: Iterable[str]) -> str | None:
    """The nearest known key, for a 'did you mean' hint."""
    found = difflib.get_close_matches(key, sorted(choices), n=1, cutoff=0.7)
    return found[0] if found else None
