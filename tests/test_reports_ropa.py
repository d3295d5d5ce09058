"""Records of processing: what each seed promises shows up in the RoPA built from its example.

The expectations are written here from the seed texts (``../shared/seeds/``), quoted in
comments, never read from the ``policy.yaml`` under test: a processor, purpose, transfer,
category or retention clock dropped from an example's policy makes
:func:`test_ropa_holds_every_promise_of_the_policy` fail. The format test beside it checks
that the CSV, XLSX and HTML carry the same facts.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from openpyxl import load_workbook

from pledge.datamap.load import load_dataset
from pledge.policy.load import load_policy
from pledge.reports.ropa import build_ropa, to_csv, to_html, to_xlsx
from tests.reports_support import EXAMPLES, PLATFORMS

#: The legal_basis column of the RoPA, per Art. 6(1) letter.
BASIS = {"b": "contract (Art. 6(1)(b))", "c": "legal_obligation (Art. 6(1)(c))",
         "f": "legitimate_interests (Art. 6(1)(f))", "a": "consent (Art. 6(1)(a))"}
#: ... and the W3C DPV term for it.
DPV = {"a": "dpv:Consent", "b": "dpv:Contract", "c": "dpv:LegalObligation", "f": "dpv:LegitimateInterest"}


@dataclass(frozen=True)
class Party:
    """A recipient the seed names: words of its name, its role, the third countries and safeguard."""

    words: str
    role: str
    countries: frozenset[str] = frozenset()
    mechanism: str | None = None


@dataclass(frozen=True)
class Seed:
    recipients: list[Party]
    #: purpose key -> Art. 6(1) letter the seed gives (or implies, where quoted below)
    purposes: dict[str, str]
    categories: set[str]
    #: (collection, ISO period) of each retention clock the seed states
    clocks: set[tuple[str, str]]
    #: collections the seed gives a clock for without a number ("a reasonable period")
    vague: set[str] = field(default_factory=set)
    security: int = 1


SEEDS: dict[str, Seed] = {
    "omni-one": Seed(
        recipients=[
            # "AI Model Providers (OpenRouter): Your prompts and inputs are sent to AI model providers"
            # "United States (third-party services like Stripe, OpenRouter)"
            # "Standard Contractual Clauses (SCCs) approved by the EU Commission"
            Party("OpenRouter", "processor", frozenset({"US"}), "scc"),
            # "Payment Processing (Stripe): Payment information is processed by Stripe"
            Party("Stripe", "processor", frozenset({"US"}), "scc"),
            # "Email Services (Plunk): Email addresses for transactional and marketing emails"
            Party("Plunk", "processor"),
            # "Real-Time Communication (Ably): WebSocket connections for real-time updates"
            Party("Ably", "processor"),
            # "Hosting and Infrastructure: Cloud hosting providers for data storage … Content delivery networks (CDN)"
            Party("hosting", "processor"),
            # "Your conversations, projects, and content are visible to other workspace members"
            Party("workspace", "recipient"),
            # "Respond to lawful requests from public authorities"
            Party("public authorities", "public_authority"),
            # "your personal information may be transferred to the acquiring entity"
            Party("acquiring entity", "controller"),
        ],
        # "13.1 Contractual Necessity" / "13.2 Consent" / "13.3 Legitimate Interests" / "13.4 Legal Obligations"
        purposes={
            "service": "b", "ai_requests": "b", "workspace_collaboration": "b", "payments": "b",
            "transactional_email": "b",
            "support": "f", "service_improvement": "f", "business_analytics": "f", "security": "f",
            "marketing_email": "a", "email_tracking": "a", "functional_cookies": "a", "analytics_cookies": "a",
            "legal_obligations": "c",
        },
        # "Full name … Email address … Password (encrypted) … Country/region" / "Billing address … VAT number"
        # "Credit card details (processed by Stripe, not stored by us)" / "Content You Create"
        # "Workspace settings and preferences" / "IP address … Browser type and version … Language preferences"
        # "Token consumption and usage patterns" / "Approximate location based on IP address"
        categories={"user.name", "user.contact.email", "user.authorization.password", "user.contact.address.country",
                    "user.contact.address", "user.financial", "user.financial.credit_card", "user.account.settings",
                    "user.content.private", "user.device.ip_address", "user.device", "user.demographic.language",
                    "user.behavior", "user.location.imprecise"},
        # "Individual conversations: Permanently deleted from our servers within 30 days"
        # "Projects: All associated data is permanently deleted within 30 days"
        # "Account: All data is permanently deleted within 90 days, except as required by law"
        # "To comply with legal obligations (tax records: 5 years in Poland)"
        clocks={("main.conversations", "P30D"), ("main.projects", "P30D"), ("main.users", "P90D"),
                ("main.invoices", "P5Y")},
        # "Encryption … Encryption at Rest … Access Controls … Authentication … Security Monitoring …
        #  Employee Training … Incident Response … Regular Audits"
        security=8,
    ),
    "onetagger": Seed(
        recipients=[
            # "firmy świadczące usługi przetwarzania serwerów w chmurze;"
            Party("chmurze", "processor"),
            # "firmy świadczące usługi w zakresie komunikacji, serwerów poczty elektronicznej i zarządzania
            #  relacjami z klientami"
            Party("komunikacji", "processor"),
            # "firmy, które pomagają monitorować zachowanie odwiedzających Witrynę lub świadczą usługi reklamowe"
            Party("monitorowania", "processor"),
            # "firmom świadczącym usługi finansowe, przetwarzającym dokumenty księgowe"
            Party("finansowych", "processor"),
            # "firmy świadczące usługi ankietowe;"
            Party("ankietowych", "processor"),
            # "firmy, które pomagają w zarządzaniu pracą z dalszym przetwarzaniem danych osobowych;"
            Party("zarządzania pracą", "processor"),
            # "firmy, które pomagają w rejestracji konta lub autoryzacji"
            Party("rejestracji konta", "processor"),
            # "Informacje … są gromadzone i przetwarzane przez Google Analytics"; "standardowe klauzule umowne
            #  (SCC) … podczas przesyłania danych osobowych poza EOG"
            Party("Google Analytics", "processor", frozenset({"US"}), "scc"),
            # "Nasza Witryna może wykorzystywać przyciski mediów społecznościowych"
            Party("mediów społecznościowych", "controller"),
            # "jeśli jest to wymagane przez prawo, w związku z jakimkolwiek postępowaniem prawnym"
            Party("Organy", "public_authority"),
            # "w przypadku, gdy sprzedajemy, licencjonujemy lub w inny sposób cedujemy naszą firmę"
            Party("Nabywca", "controller"),
        ],
        # "(RODO art. 6.1.b)", "(art. 6 ust. 1 lit. b RODO)", "(RODO Art. 6 ust. 1 lit. c)",
        # "(art. 6 ust. 1 lit. f RODO)", "po otrzymaniu zgody użytkownika", "na podstawie zgody użytkownika
        #  (śledzenie plików cookie)"
        purposes={
            "konto": "b", "usluga": "b", "spolecznosc": "b", "obsluga_przedumowna": "b", "aktualizacje": "b",
            "funkcjonalnosc": "b", "wsparcie": "b", "dostep_demonstracyjny": "b",
            "wydajnosc": "f", "prawo_zagraniczne": "f", "ulepszanie": "f", "dzienniki": "f", "analityka": "f",
            "marketing_bezposredni": "f",
            "biuletyn": "a", "sledzace_cookie": "a",
            "ksiegowosc": "c", "obowiazki_prawne": "c",
        },
        # "imienia i nazwiska oraz adresu e-mail" / "adres rozliczeniowy, nazwa firmy" / "adres IP,
        #  identyfikator urządzenia" / "potwierdzenia płatności" / "komentarze"
        categories={"user.name", "user.contact.email", "user.contact.address", "user.contact.organization",
                    "user.content.private", "user.content.public", "user.financial", "user.device.ip_address",
                    "user.device", "user.behavior.browsing_history"},
        # "w ciągu 12 miesięcy od ostatniej sesji użytkownika" / "przechowywane maksymalnie przez 12 miesięcy od
        #  ostatniej wizyty" / "przez 12 miesięcy od ostatniej komunikacji z użytkownikiem" / "w ciągu 24
        #  miesięcy od ostatniej wizyty w witrynie"
        clocks={("main.accounts", "P12M"), ("main.web_logs", "P12M"), ("main.newsletter_subscriptions", "P12M"),
                ("main.analytics_events", "P24M")},
    ),
    "onestepai": Seed(
        recipients=[
            # "Technology and Communications Providers; Fulfillment Providers; Data Storage Providers"
            # "hosted and operated in Poland and the United States"; "we rely on the EU-U.S. Shield Framework"
            Party("Technology", "processor", frozenset({"US"}), "privacy_shield"),
            # "Payment Processors - our payment processing partner (currently …)"
            Party("Payment processor", "processor"),
            # "Security and Fraud Prevention Consultants"
            Party("fraud prevention", "processor"),
            # "We also use analytics service providers to analyze how you use the Services"
            Party("Analytics service providers", "processor"),
            # "advertising networks"
            Party("Advertising networks", "controller"),
            # "sign into our Service using Google Sign-In or other Social networks"
            Party("Social networks", "controller"),
            # "Third-party Users – any information that a user may share with other users is not in any way private."
            Party("Other users", "recipient"),
            # "we display case studies, personal testimonials of satisfied customers on our websites"
            Party("testimonials", "recipient"),
            # "through a contractual agreement with an entity (such as your employer)"
            Party("employer", "controller"),
            # "a duly authorized information request of a police or governmental authority"
            Party("governmental authorities", "public_authority"),
            # "Business Transfers - … such as a merger, consolidation, acquisition"
            Party("merger", "controller"),
        ],
        # the seed names no Art. 6(1) basis; these are read from its wording (PROMISES.md, OS-18 to OS-27)
        purposes={
            "account": "b", "billing": "b", "support": "b", "image_recognition": "b", "facial_recognition": "b",
            "service_improvement": "f", "administrative_contact": "b", "rights_enforcement": "f",
            "legal_compliance": "c", "security": "f", "marketing_email": "a",
        },
        # "full name, company name, telephone number, address, email address" / "IP address" /
        # "social media profile IDs" / "images, videos, text" / "geographic location"
        categories={"user.name", "user.contact.organization", "user.contact.phone_number", "user.contact.address",
                    "user.contact.email", "user.device.ip_address", "user.social", "user.content.private",
                    "user.location.imprecise", "user.financial"},
        clocks=set(),
        # "and a reasonable period thereafter" / "for a reasonable period of time from the date you last expressed
        #  interest" / "for a reasonable period of time from the date such information was created"
        vague={"main.users", "main.marketing_contacts", "main.api_access_log"},
        # "secure servers, firewalls, registry data encryption, data file encryption, SSL encryption"
        security=2,
    ),
}


def _ropa_rows(platform: str) -> list[dict[str, str]]:
    folder = EXAMPLES / platform
    ropa = build_ropa(load_policy(folder / "policy.yaml"), load_dataset(folder / "dataset.yaml"))
    return list(csv.DictReader(io.StringIO(to_csv(ropa))))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_ropa_holds_every_promise_of_the_policy(platform: str) -> None:
    seed = SEEDS[platform]
    rows = _ropa_rows(platform)
    section = {s: [r for r in rows if r["section"] == s]
               for s in ("processing", "categories", "recipients", "transfers", "retention", "security")}
    problems: list[str] = []
    for party in seed.recipients:
        found = [r for r in section["recipients"] if party.words.lower() in r["name"].lower()]
        if len(found) != 1:
            problems.append(f"recipient {party.words!r}: {len(found)} RoPA rows")
            continue
        rec = found[0]
        if rec["role"] != party.role:
            problems.append(f"recipient {party.words!r} is a {rec['role']}, the seed makes it a {party.role}")
        if party.role == "processor" and rec["dpa"] != "yes":
            # omni-one "All third-party service providers are required to: …", onetagger "podpisanie umowy
            # o przetwarzaniu danych", onestepai "required by contract to keep the information … confidential"
            problems.append(f"processor {party.words!r} has no contract on record")
        moved = {(r["country"], r["mechanism"]) for r in section["transfers"] if r["recipient"] == rec["recipient"]}
        want = {(c, party.mechanism) for c in party.countries}
        if moved != want:
            problems.append(f"recipient {party.words!r}: transfers {sorted(moved)}, the seed says {sorted(want)}")
    third = {(r["recipient"], r["country"]) for r in section["transfers"]}
    named = sum(len(p.countries) for p in seed.recipients)
    if len(third) != named:
        problems.append(f"the RoPA lists {len(third)} transfers, the seed names {named}")
    for key, letter in seed.purposes.items():
        row = next((r for r in section["processing"] if r["purpose"] == key), None)
        if row is None:
            problems.append(f"purpose {key!r} is missing")
        elif row["legal_basis"] != BASIS[letter]:
            problems.append(f"purpose {key!r} rests on {row['legal_basis']!r}, the seed says {BASIS[letter]!r}")
        elif row["dpv_legal_basis"] != DPV[letter]:
            problems.append(f"purpose {key!r}: DPV term {row['dpv_legal_basis']!r}")
    listed = {r["category"] for r in section["categories"]}
    problems += [f"category {c!r} is missing" for c in sorted(seed.categories - listed)]
    clocks = {(s.strip(), r["period_iso"]) for r in section["retention"] for s in r["systems"].split(";")}
    problems += [f"retention clock {c} is missing" for c in sorted(seed.clocks - clocks)]
    problems += [f"no retention period for {c}" for c in sorted(seed.vague - {s for s, p in clocks if p})]
    if len(section["security"]) < seed.security:
        problems.append(f"{len(section['security'])} security measures, the seed names {seed.security}")
    assert problems == [], f"{platform}: " + "; ".join(problems)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_ropa_formats_carry_the_same_facts(platform: str) -> None:
    """The CSV, the XLSX and the HTML show the same purposes, recipients and periods."""
    folder = EXAMPLES / platform
    raw: dict[str, Any] = yaml.safe_load((folder / "policy.yaml").read_text(encoding="utf-8"))
    ropa = build_ropa(load_policy(folder / "policy.yaml"), load_dataset(folder / "dataset.yaml"))
    rows = list(csv.DictReader(io.StringIO(to_csv(ropa))))
    purposes = {p["key"] for p in raw["purposes"]}
    recipients = {r["key"] for r in raw.get("recipients", [])}
    periods = {r["period_iso"] for r in rows if r["section"] == "retention" and r["period_iso"]}
    assert purposes == {r["purpose"] for r in rows if r["section"] == "processing"}
    assert recipients == {r["recipient"] for r in rows if r["section"] == "recipients"}
    for r in rows:
        if r["section"] == "transfers" and r["mechanism"] != "none stated":
            assert r["dpv_transfer"].startswith("dpv:")
    wb = load_workbook(io.BytesIO(to_xlsx(ropa)))
    assert {"controller", "processing", "recipients", "transfers", "retention", "security"} <= set(wb.sheetnames)
    cells = {str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None}
    assert purposes <= cells and recipients <= cells and periods <= cells
    page = to_html(ropa)
    for name in [p["name"] for p in raw["purposes"]] + [r["name"] for r in raw.get("recipients", [])]:
        assert html.escape(name) in page


def test_ropa_cli_writes_each_format(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pledge.cli import app
    from tests.reports_support import english_policy, write_config

    cfg = write_config(tmp_path, english_policy())
    runner = CliRunner()
    for fmt in ("html", "csv", "xlsx"):
        out = tmp_path / f"ropa.{fmt}"
        res = runner.invoke(app, ["report", "ropa", "-c", str(cfg), "--format", fmt, "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert out.stat().st_size > 200
    assert "Model Router" in (tmp_path / "ropa.csv").read_text(encoding="utf-8")
    bad = runner.invoke(app, ["report", "ropa", "-c", str(cfg), "--format", "pdf"])
    assert bad.exit_code == 2 and "pdf" in bad.output
