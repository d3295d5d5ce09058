"""The policy as code: every promise a privacy policy makes, as a typed model.

Vocabulary follows fideslang taxonomy keys for data categories (``user.contact.email``),
data uses (``marketing.communications.email``) and subjects (``customer``). Every
concrete promise may carry ``source``: the seed sentence it was taken from, quoted.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pledge.policy.duration import DurationField

LegalBasis = Literal[
    "consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests"
]
SpecialBasis = Literal[
    "explicit_consent", "employment", "vital_interests", "not_for_profit", "made_public",
    "legal_claims", "substantial_public_interest", "health_care", "public_health", "archiving",
]
SourceKind = Literal["provided", "automatic", "third_party"]
RecipientRole = Literal["processor", "controller", "joint_controller", "public_authority", "recipient"]
TransferMechanism = Literal[
    "adequacy", "dpf", "scc", "bcr", "derogation", "consent", "privacy_shield", "swiss_us_privacy_shield",
]
RetentionAction = Literal["delete", "anonymise"]
RightKind = Literal[
    "access", "rectification", "erasure", "restriction", "portability", "objection",
    "withdraw_consent", "automated_decision", "complaint",
    "ccpa_know", "ccpa_delete", "ccpa_correct", "ccpa_opt_out", "ccpa_limit",
]
ChannelKind = Literal["email", "web", "post", "in_app", "phone", "account_settings"]
Regime = Literal["gdpr", "ccpa", "uk_gdpr"]
VerificationMethod = Literal["email_code", "signed_token", "account_login", "org_admin", "manual"]
ChildAction = Literal["delete", "suspend", "require_parental_consent"]


class Strict(BaseModel):
    """Base for every policy block: unknown fields are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=False)


class Promise(Strict):
    source: str | None = Field(default=None, description="The seed sentence this promise quotes.")


Language = Literal["en", "pl"]


class Translation(Strict):
    """The words of one entry in another language; what is left out stays as written."""

    name: str | None = None
    description: str | None = None
    legitimate_interest: str | None = None
    withdrawal: str | None = None
    service: str | None = None
    law: str | None = None
    retention: str | None = None
    note: str | None = None
    statement: str | None = None


class Labelled(Promise):
    """An entry people see by name: its words in the policy's language, and in others."""

    translations: dict[Language, Translation] = Field(
        default_factory=dict, description="Its name and description in other languages: {pl: {name: ...}}.")


class Contact(Strict):
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    url: str | None = None


class Controller(Promise):
    name: str
    address: str | None = None
    country: str = Field(description="ISO 3166-1 alpha-2 country of establishment, e.g. PL.")
    registration: dict[str, str] = Field(default_factory=dict, description="e.g. {KRS: ..., NIP: ...}")
    email: str | None = None
    phone: str | None = None
    website: str | None = None
    dpo: Contact | None = None
    representative: Contact | None = None


class Authority(Promise):
    name: str
    country: str
    url: str | None = None
    address: str | None = None


class Subject(Labelled):
    key: str = Field(description="fideslang data subject key, e.g. customer.")
    name: str
    description: str | None = None
    is_user: bool = True


class CategorySource(Strict):
    kind: SourceKind
    party: str | None = Field(default=None, description="Who supplies it, for third_party sources.")


class Category(Labelled):
    key: str = Field(description="fideslang data category key, e.g. user.contact.email.")
    name: str
    description: str | None = None
    subjects: list[str] = Field(default_factory=list)
    sources: list[CategorySource] = Field(default_factory=list)
    special: bool = Field(default=False, description="An Art. 9 special category.")


class Purpose(Labelled):
    key: str
    name: str
    description: str | None = None
    data_use: str = Field(description="fideslang data use key, e.g. marketing.communications.email.")
    legal_basis: LegalBasis | None = None
    special_basis: SpecialBasis | None = Field(default=None, description="Art. 9(2) condition, if any.")
    legitimate_interest: str | None = None
    consent_required: bool = False
    withdrawal: str | None = Field(default=None, description="How consent is withdrawn.")
    objectable: bool = False
    sells_or_shares: bool = Field(default=False, description="A CCPA sale or sharing: GPC turns it off.")
    categories: list[str] = Field(default_factory=list)
    subjects: list[str] = Field(default_factory=list)


class Recipient(Labelled):
    key: str
    name: str
    role: RecipientRole = "processor"
    service: str
    countries: list[str] = Field(default_factory=list, description="ISO 3166-1 alpha-2 codes.")
    transfer: TransferMechanism | None = None
    dpa: bool | None = Field(default=None, description="A data processing agreement is in place.")
    retention: str | None = Field(default=None, description="Its own retention promise, in words.")
    retention_period: DurationField | None = None
    no_training: bool | None = None
    categories: list[str] = Field(default_factory=list)
    purposes: list[str] = Field(default_factory=list)
    notify: Contact | None = Field(default=None, description="Where Art. 19 notices go.")


class Exemption(Labelled):
    key: str
    name: str
    law: str = Field(description="The legal obligation, e.g. Art. 74 Polish Accounting Act.")
    period: DurationField
    trigger: str = Field(default="created_at", description="The column the legal period runs from.")
    year_end: bool = Field(
        default=False,
        description="The period runs from the end of the trigger's calendar year (as tax and accounting "
        "laws count it), not from the trigger itself.",
    )
    categories: list[str] = Field(default_factory=list)
    collections: list[str] = Field(default_factory=list)
    action: RetentionAction = "anonymise"


class RetentionRule(Labelled):
    key: str
    name: str
    description: str | None = None
    categories: list[str] = Field(default_factory=list)
    collections: list[str] = Field(default_factory=list, description="dataset collections, db.collection")
    trigger: str = Field(description="Column or expression the clock runs from, e.g. last_login_at.")
    period: DurationField | None = None
    vague: str | None = Field(default=None, description="The policy's own vague wording, if any.")
    condition: str | None = Field(default=None, description="SQL condition, e.g. status = 'deleted'.")
    action: RetentionAction = "delete"
    fields: list[str] = Field(default_factory=list, description="Fields to anonymise.")
    cascade: bool = True
    exemptions: list[str] = Field(default_factory=list, description="Exemption keys.")


class Channel(Strict):
    kind: ChannelKind
    address: str | None = None


class Right(Labelled):
    kind: RightKind
    channels: list[Channel] = Field(default_factory=list)
    note: str | None = None


class RegimeDeadline(Promise):
    regime: Regime
    respond: DurationField
    extension: DurationField | None = None
    confirm_business_days: int | None = None


class Rights(Promise):
    offered: list[Right] = Field(default_factory=list)
    deadlines: list[RegimeDeadline] = Field(default_factory=list)
    promise: DurationField | None = Field(default=None, description="The policy's own, stricter deadline.")
    approval_required: list[RightKind] = Field(default_factory=list)


class Verification(Promise):
    methods: list[VerificationMethod] = Field(default_factory=lambda: ["email_code"])  # type: ignore[arg-type]
    code_ttl: DurationField = Field(default="PT15M")  # type: ignore[assignment]
    max_attempts: int = Field(default=5, ge=1)
    managed_accounts: Literal["self", "org_admin"] = "self"
    note: str | None = None


class Age(Promise):
    minimum: int = Field(ge=0, le=21)
    parental_consent_from: int | None = Field(default=None, description="Lower end of the band.")
    parental_consent_until: int | None = Field(default=None, description="Age at which it is no longer needed.")
    on_child_found: ChildAction = "delete"
    consent_purpose: str | None = Field(
        default=None, description="The purpose key under which a parent's consent is recorded."
    )


class CookieWords(Strict):
    """A cookie's words in another language (``name`` only where the policy names a family of
    cookies in words, like "Analytics cookies", rather than by the name a browser stores)."""

    name: str | None = None
    purpose: str | None = None
    duration: str | None = None
    provider: str | None = None


class Cookie(Promise):
    """One cookie (or a family, ``_ga_*``) the banner lists under its category."""

    name: str = Field(description="The cookie's name as the browser stores it, e.g. _ga.")
    provider: str | None = Field(default=None, description="Who sets and reads it: the platform or a vendor.")
    duration: str | None = Field(default=None, description="How long it lives, in words: session, 2 years.")
    purpose: str | None = Field(default=None, description="What it is for, in plain words.")
    translations: dict[Language, CookieWords] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value  # `cookies: [_ga]` still reads

    def words(self, lang: str) -> dict[str, str | None]:
        """name, provider, duration and purpose in ``lang`` (as written where not translated)."""
        other = self.translations.get(lang)  # type: ignore[call-overload]
        return {"name": (other.name if other and other.name else self.name),
                "provider": (other.provider if other and other.provider else self.provider),
                "duration": (other.duration if other and other.duration else self.duration),
                "purpose": (other.purpose if other and other.purpose else self.purpose)}


class CookieCategory(Labelled):
    key: Literal["essential", "functional", "analytics", "marketing"]
    name: str
    description: str | None = None
    purposes: list[str] = Field(default_factory=list)
    cookies: list[Cookie] = Field(default_factory=list, description=(
        "The cookies of this category: name, provider, duration, purpose (a bare name still reads)."))
    sells_or_shares: bool = False


class Changes(Promise):
    notice_period: DurationField | None = None
    material_reconsent: bool = False
    channels: list[ChannelKind] = Field(default_factory=list)


class Measure(Labelled):
    key: str
    description: str


class Automated(Labelled):
    used: bool = False
    statement: str


class Backups(Promise):
    retention: DurationField


class Breach(Promise):
    notify_subjects: bool = True
    channel: ChannelKind = "email"
    authority_hours: int = 72


class Policy(Strict):
    """One platform's privacy policy, as code."""

    version: str
    effective: date | None = None
    language: Literal["en", "pl"] = "en"
    regimes: list[Regime] = Field(default_factory=lambda: ["gdpr"])  # type: ignore[arg-type]
    controller: Controller
    authority: Authority | None = None
    subjects: list[Subject] = Field(default_factory=list)
    categories: list[Category] = Field(default_factory=list)
    purposes: list[Purpose] = Field(default_factory=list)
    recipients: list[Recipient] = Field(default_factory=list)
    exemptions: list[Exemption] = Field(default_factory=list)
    retention: list[RetentionRule] = Field(default_factory=list)
    rights: Rights = Field(default_factory=Rights)
    verification: Verification = Field(default_factory=Verification)
    age: Age | None = None
    cookies: list[CookieCategory] = Field(default_factory=list)
    changes: Changes = Field(default_factory=Changes)
    security: list[Measure] = Field(default_factory=list)
    automated_decisions: Automated | None = None
    backups: Backups | None = None
    breach: Breach = Field(default_factory=Breach)

    def purpose(self, key: str) -> Purpose:
        for p in self.purposes:
            if p.key == key:
                return p
        raise KeyError(f"no purpose {key!r}; known: {', '.join(p.key for p in self.purposes)}")

    def exemption(self, key: str) -> Exemption:
        for e in self.exemptions:
            if e.key == key:
                return e
        raise KeyError(f"no exemption {key!r}")
