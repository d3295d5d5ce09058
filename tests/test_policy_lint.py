"""The lint: each rule fires on a minimal bad policy and stays quiet on a good one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pledge.datamap.model import Dataset
from pledge.policy.lint import RULES, lint_file, lint_policy
from pledge.policy.model import Policy
from pledge.policy.taxonomy import ART8_AGE, DATA_CATEGORIES, DATA_USES
from tests.policy_samples import good_dataset, good_policy, write

Mutation = Callable[[dict[str, Any]], None]


def _codes(data: dict[str, Any], dataset: dict[str, Any] | None = None) -> list[str]:
    policy = Policy.model_validate(data)
    ds = Dataset.model_validate(dataset) if dataset is not None else None
    return [f.code for f in lint_policy(policy, dataset=ds).findings]


def test_good_policy_has_no_findings() -> None:
    assert _codes(good_policy()) == []
    assert _codes(good_policy(), good_dataset()) == []


def _set(path: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        target: Any = data
        for part in parents:
            target = target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return mutate


_DELETE = object()

CASES: list[tuple[str, Mutation]] = [
    ("PL001", _set("recipients.1.transfer", "privacy_shield")),
    ("PL001", _set("recipients.1.transfer", "swiss_us_privacy_shield")),
    ("PL002", _set("recipients.1.transfer", None)),
    ("PL003", _set("recipients.0.countries", ["CH"])),
    ("PL010", _set("purposes.0.legal_basis", None)),
    ("PL011", _set("purposes.1.withdrawal", None)),
    ("PL012", _set("purposes.0.categories", ["user.contact.email", "user.biometric"])),
    ("PL013", _set("purposes.2.objectable", False)),
    ("PL013", _set("purposes.2.legitimate_interest", None)),
    ("PL020", _set("retention.0.period", None)),  # paired with vague below
    ("PL020", _set("retention.0.period", "P90D")),  # vague wording even with a configured period
    ("PL021", _set("retention.0.period", None)),
    ("PL021", _set("retention", [])),
    ("PL022", _set("retention.0.exemptions", ["acounting"])),
    ("PL030", _set("controller.email", None)),
    ("PL030", _set("controller.email", "This email address is being protected from spambots.")),
    ("PL040", _set("age.minimum", 13)),
    ("PL041", _set("age", None)),
    ("PL050", _set("rights.deadlines.0.respond", "P2M")),
    ("PL050", _set("rights.deadlines.0.extension", "P3M")),
    ("PL050", _set("rights.deadlines.1.respond", "P60D")),
    ("PL050", _set("rights.deadlines.1.extension", "P90D")),
    ("PL050", _set("rights.promise", "P6W")),
    ("PL051", _set("rights.promise", "P30D")),
    ("PL060", _set("categories.1.key", "user.nmae")),
    ("PL061", _set("purposes.0.data_use", "essential.servce")),
    ("PL062", _set("subjects.0.key", "custmer")),
    ("PL070", _set("purposes.0.categories", ["user.contact.phone_number"])),
    ("PL070", _set("recipients.1.purposes", ["newsleter"])),
    ("PL070", _set("age", {"minimum": 16, "consent_purpose": "parental"})),
    ("PL071", _set("purposes.1.key", "service")),
    # onestepai: "you may have additional rights granted to you under the California Consumer Protection Act"
    ("PL090", _set("purposes.0.description", "Rights under the California Consumer Protection Act (CCPA).")),
    # onestepai: "A list of Supervisory Authorities is available here: … (Article 21 GDPR)."
    ("PL091", _set("rights.offered", [{"kind": "complaint", "source": "You may complain to the authority "
                                                                      "(Article 21 GDPR)."}])),
    ("PL091", _set("rights.offered", [{"kind": "access", "note": "a copy of your data (art. 17 RODO)"}])),
    # one purpose named in Polish, the rest of the policy not: Polish pages would mix languages
    ("PL100", _set("purposes.0.translations", {"pl": {"name": "Świadczenie usługi"}})),
    # a banner category that names no cookie, and a cookie the banner cannot describe
    ("PL101", _set("cookies", [{"key": "analytics", "name": "Analytics"}])),
    ("PL102", _set("cookies", [{"key": "analytics", "name": "Analytics",
                                "cookies": [{"name": "_ga", "provider": "Google"}]}])),
]


@pytest.mark.parametrize(("code", "mutate"), CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(CASES)])
def test_rule_fires_on_minimal_bad_policy(code: str, mutate: Mutation) -> None:
    data = good_policy()
    mutate(data)
    if code == "PL020":
        data["retention"][0]["vague"] = "a reasonable period of time"
    codes = _codes(data)
    assert code in codes
    # The one change triggers nothing unrelated (PL070 and PL071 cascade by design).
    assert set(codes) <= {code, "PL070", "PL071", "PL060", "PL011"}


def test_every_rule_has_a_case() -> None:
    covered = {code for code, _ in CASES} | {"PL080", "PL081", "PL082", "PL083"}
    assert covered == set(RULES)


@pytest.mark.parametrize("text", [
    "Access your personal data (Article 15 GDPR); … Update your personal data (Article 16 GDPR);",
    "a complaint to the supervisory authority (Art. 77 GDPR)", "no article at all",
])
def test_a_right_cited_with_its_own_article_is_quiet(text: str) -> None:
    data = good_policy()
    kind = "complaint" if "77" in text else "access"
    data["rights"]["offered"] = [{"kind": kind, "source": text}]
    data["purposes"][0]["description"] = "the California Consumer Privacy Act (CCPA)"
    assert _codes(data) == []


def test_privacy_shield_cites_schrems_ii_and_the_dpf() -> None:
    data = good_policy()
    data["recipients"][1]["transfer"] = "privacy_shield"
    [finding] = lint_policy(Policy.model_validate(data)).findings
    assert finding.severity == "error"
    assert finding.path == "recipients[1].transfer"
    assert "C-311/18" in (finding.hint or "") and "16 July 2020" in (finding.hint or "")
    assert "10 July 2023" in (finding.hint or "") and "Data Privacy Framework" in (finding.hint or "")


def test_dpo_email_is_a_controller_contact() -> None:
    data = good_policy()
    data["controller"]["email"] = None
    data["controller"]["dpo"] = {"email": "dpo@acme.example"}
    assert "PL030" not in _codes(data)


@pytest.mark.parametrize(("country", "minimum", "fires"), [
    ("PL", 15, True), ("PL", 16, False), ("DE", 15, True), ("FR", 15, False), ("FR", 14, True),
    ("AT", 14, False), ("ES", 13, True), ("DK", 13, False), ("SE", 13, False), ("BE", 12, True),
    ("US", 15, True),  # outside the table: the Art. 8 default of 16
])
def test_art8_age_per_member_state(country: str, minimum: int, fires: bool) -> None:
    data = good_policy()
    data["controller"]["country"] = country
    data["age"] = {"minimum": minimum}
    assert ("PL040" in _codes(data)) is fires


def test_parental_consent_band_must_reach_the_art8_age() -> None:
    data = good_policy()
    data["age"] = {"minimum": 13, "parental_consent_from": 13, "parental_consent_until": 16}
    assert "PL040" not in _codes(data)
    data["age"]["parental_consent_until"] = 15
    assert "PL040" in _codes(data)
    data["age"] = {"minimum": 13, "parental_consent_from": 14, "parental_consent_until": 18}
    assert "PL040" in _codes(data)


def test_art8_table_matches_gdpr_national_choices() -> None:
    assert {k: ART8_AGE[k] for k in ("PL", "DE", "NL", "IE", "FR", "AT", "ES", "IT", "DK", "SE", "BE")} == {
        "PL": 16, "DE": 16, "NL": 16, "IE": 16, "FR": 15, "AT": 14, "ES": 14, "IT": 14,
        "DK": 13, "SE": 13, "BE": 13}
    assert all(13 <= age <= 16 for age in ART8_AGE.values())


def test_seed_taxonomy_keys_are_known() -> None:
    for key in ("user.contact.email", "user.device.ip_address", "user.financial", "user.content.self_image",
                "user.biometric", "user.behavior.browsing_history", "user.unique_id"):
        assert key in DATA_CATEGORIES
    for use in ("essential.service", "marketing.communications.email", "analytics.reporting",
                "essential.legal_obligation", "essential.service.payment_processing"):
        assert use in DATA_USES


def test_consent_right_counts_as_a_way_to_withdraw() -> None:
    data = good_policy()
    data["purposes"][1]["withdrawal"] = None
    data["rights"]["offered"] = [{"kind": "withdraw_consent", "channels": [{"kind": "account_settings"}]}]
    assert "PL011" not in _codes(data)


# ------------------------------------------------------------------ with a dataset


@pytest.mark.parametrize(("code", "mutate"), [
    ("PL080", _set("retention.0.collections", ["main.user"])),
    ("PL080", _set("exemptions.0.collections", ["main.payments"])),
    ("PL081", _set("retention.0.categories", ["user.name.first", "user.contact.phone_number"])),
    ("PL081", _set("exemptions.0.categories", ["user.device.ip_address"])),
    ("PL083", _set("purposes.0.categories", ["user.contact.email", "user.device.ip_address"])),
    ("PL082", _set("retention.0.trigger", "deleted_at")),
    ("PL082", _set("retention.0.fields", ["email", "phone"])),
])
def test_dataset_rules_fire(code: str, mutate: Mutation) -> None:
    data = good_policy()
    for cat in ("user.contact.phone_number", "user.device.ip_address", "user.name.first"):
        data["categories"].append({"key": cat, "name": cat})
    assert _codes(data, good_dataset()) == []
    mutate(data)
    assert code in _codes(data, good_dataset())
    assert code not in _codes(data)  # without the dataset nothing is known about it


def test_bare_collection_name_resolves_when_unique() -> None:
    data = good_policy()
    data["retention"][0]["collections"] = ["users"]
    assert _codes(data, good_dataset()) == []


def test_findings_carry_file_and_line(tmp_path: Path) -> None:
    data = good_policy()
    data["recipients"][1]["transfer"] = "privacy_shield"
    path = write(tmp_path / "policy.yaml", data)
    report = lint_file(path)
    [finding] = report.findings
    line = path.read_text().splitlines()[finding.line - 1] if finding.line else ""
    assert line.strip() == "transfer: privacy_shield"
    assert finding.file == str(path)
    assert str(finding).startswith(f"{path}:{finding.line}: error PL001: recipients[1].transfer: ")


def test_lint_file_with_dataset(tmp_path: Path) -> None:
    data = good_policy()
    data["retention"][0]["collections"] = ["main.accounts"]
    report = lint_file(write(tmp_path / "policy.yaml", data), write(tmp_path / "dataset.yaml", good_dataset()))
    assert [f.code for f in report.errors] == ["PL080"]
    assert report.errors[0].path == "retention[0].collections[0]"
    assert "'main.accounts' is not a collection of dataset 'acme'" in report.errors[0].message
