"""The three example policies: they load, lint as their seeds deserve, quote their seeds,
bind retention to real tables and columns, and every rule is accounted for in PROMISES.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Table

from pledge.platforms import PLATFORMS
from pledge.policy.lint import lint_policy
from pledge.policy.load import load_policy, load_policy_located
from pledge.policy.model import Policy

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SEEDS = ROOT.parent / "shared" / "seeds"
SEED_FILES = {
    "omni-one": "omni-one-privacy-policy.txt",
    "onetagger": "onetagger-privacy-policy-pl.txt",
    "onestepai": "onestepai-privacy-policy.txt",
}
NAMES = sorted(SEED_FILES)
_SQL_WORDS = {"and", "or", "not", "is", "null", "in", "like", "true", "false"}


def _policy(name: str) -> Policy:
    return load_policy(EXAMPLES / name / "policy.yaml")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _sources(node: object, path: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "source" and isinstance(value, str):
                found.append((path, value))
            else:
                found.extend(_sources(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_sources(value, f"{path}[{i}]"))
    return found


def _table(name: str, dotted: str) -> Table:
    db, _, table = dotted.partition(".")
    assert db == "main", f"{dotted}: collections live in the database 'main'"
    tables = PLATFORMS[name].metadata.tables
    assert table in tables, f"{dotted} is not a table of {name}: {sorted(tables)}"
    found: Table = tables[table]
    return found


def _check_column(name: str, owner: Table, column: str) -> None:
    """``column`` is a column of ``owner``, or ``main.t.c`` of a table ``owner`` references."""
    if "." not in column:
        assert column in owner.c, f"{owner.name} has no column {column!r}"
        return
    db, table, col = column.split(".")
    other = _table(name, f"{db}.{table}")
    assert col in other.c, f"{column}: {table} has no column {col!r}"
    referenced = {fk.column.table.name for fk in owner.foreign_keys}
    assert table in referenced, f"{owner.name} has no foreign key to {table}, so {column} cannot be reached"


@pytest.mark.parametrize("name", NAMES)
def test_example_policy_loads_with_controller_and_language(name: str) -> None:
    policy = _policy(name)
    assert policy.controller.name
    assert policy.language == ("pl" if name == "onetagger" else "en")
    assert policy.retention, "every seed promises at least one retention clock"


@pytest.mark.parametrize("name", ["omni-one", "onetagger"])
def test_faithful_policies_have_no_lint_errors(name: str) -> None:
    loaded = load_policy_located(EXAMPLES / name / "policy.yaml")
    report = lint_policy(loaded.model, loaded.source)
    assert [str(f) for f in report.errors] == []


def test_onestepai_lint_reports_exactly_its_seed_faults() -> None:
    loaded = load_policy_located(EXAMPLES / "onestepai" / "policy.yaml")
    report = lint_policy(loaded.model, loaded.source)
    assert {f.code for f in report.errors} == {"PL001", "PL030"}
    shield = [f for f in report.errors if f.code == "PL001"]
    assert all(f.path.startswith("recipients[") for f in shield)


def test_onestepai_lint_flags_the_misnamed_ccpa_and_the_article_21_complaint() -> None:
    """The seed says "the California Consumer Protection Act (CCPA)" (the law is the California
    Consumer Privacy Act) and sends complaints to the authority under "(Article 21 GDPR)" (the
    right to object; a complaint is Art. 77): both show as warnings on the rights that quote them."""
    loaded = load_policy_located(EXAMPLES / "onestepai" / "policy.yaml")
    report = lint_policy(loaded.model, loaded.source)
    rights = loaded.model.rights.offered
    found = {(f.code, rights[int(f.path.split("[")[1].split("]")[0])].kind) for f in report.warnings
             if f.code in ("PL090", "PL091")}
    assert found == {("PL090", "ccpa_know"), ("PL091", "complaint")}
    ccpa = next(f for f in report.warnings if f.code == "PL090")
    assert "California Consumer Privacy Act" in (ccpa.hint or "") and ccpa.line is not None
    complaint = next(f for f in report.warnings if f.code == "PL091")
    assert "Art. 21" in complaint.message and "Art. 77" in (complaint.hint or "")
    for name in ("omni-one", "onetagger"):  # they name their laws and articles rightly
        other = load_policy_located(EXAMPLES / name / "policy.yaml")
        assert not {"PL090", "PL091"} & lint_policy(other.model, other.source).codes()


@pytest.mark.parametrize("name", NAMES)
def test_every_source_quotes_the_seed(name: str) -> None:
    seed = SEEDS / SEED_FILES[name]
    if not seed.exists():
        pytest.skip(f"seed {seed} is not beside the repository")
    import yaml

    text = _norm(seed.read_text(encoding="utf-8"))
    raw = yaml.safe_load((EXAMPLES / name / "policy.yaml").read_text(encoding="utf-8"))
    sources = _sources(raw)
    assert len(sources) > 40
    missing = [(path, piece) for path, quote in sources for piece in quote.split(" … ")
               if _norm(piece) not in text]
    assert missing == []


@pytest.mark.parametrize("name", NAMES)
def test_retention_binds_to_real_tables_and_columns(name: str) -> None:
    policy = _policy(name)
    exemptions = {e.key for e in policy.exemptions}
    for rule in policy.retention:
        assert rule.period is not None, f"{rule.key}: a configured period, even when the seed is vague"
        assert set(rule.exemptions) <= exemptions
        for dotted in rule.collections:
            owner = _table(name, dotted)
            _check_column(name, owner, rule.trigger)
            for field in rule.fields:
                assert field in owner.c, f"{rule.key}: {owner.name} has no column {field!r}"
            if rule.condition:
                bare = re.sub(r"'[^']*'", "", rule.condition)
                for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", bare):
                    if word.lower() not in _SQL_WORDS:
                        assert word in owner.c, f"{rule.key}: condition names {word!r}, not in {owner.name}"
    for ex in policy.exemptions:
        for dotted in ex.collections:
            _check_column(name, _table(name, dotted), ex.trigger)


def test_seed_clocks_are_encoded_exactly() -> None:
    def clocks(name: str) -> dict[str, tuple[str, str, str]]:
        return {r.key: (",".join(r.collections), r.trigger, str(r.period)) for r in _policy(name).retention}

    oo = clocks("omni-one")
    assert oo["deleted_conversations"] == ("main.conversations", "deleted_at", "P30D")
    assert oo["deleted_projects"] == ("main.projects", "deleted_at", "P30D")
    assert oo["closed_accounts"] == ("main.users", "closed_at", "P90D")
    tax = _policy("omni-one").exemption("tax_records")
    assert (str(tax.period), tax.year_end, tax.collections) == ("P5Y", True, ["main.invoices"])
    backups = _policy("omni-one").backups
    assert backups is not None and str(backups.retention) == "P30D"

    ot = clocks("onetagger")
    assert ot["konto_nieaktywne"] == ("main.accounts", "last_login_at", "P12M")
    for key in ("funkcjonalnosc_nieaktywne", "platnosci_nieaktywne", "wsparcie_nieaktywne"):
        assert ot[key][1:] == ("main.accounts.last_login_at", "P12M")
        assert "ksiegowosc" in next(r for r in _policy("onetagger").retention if r.key == key).exemptions
    assert ot["dzienniki"] == ("main.web_logs", "created_at", "P12M")
    assert ot["marketing"] == ("main.newsletter_subscriptions", "last_contact_at", "P12M")
    assert ot["analityka"] == ("main.analytics_events", "created_at", "P24M")

    vague = [r for r in _policy("onestepai").retention if r.vague]
    assert len(vague) == 4, "the seed says 'a reasonable period' three times and defers to the admin once"
    assert all(r.period is not None for r in vague), "each vague wording gets a configured period"


def test_people_in_images_and_org_admins_are_encoded() -> None:
    policy = _policy("onestepai")
    depicted = [s for s in policy.subjects if not s.is_user and "image" in s.name.lower()]
    assert depicted, "people shown in uploaded images are data subjects who are not users"
    assert policy.verification.managed_accounts == "org_admin"
    assert policy.age is not None
    assert (policy.age.minimum, policy.age.parental_consent_from, policy.age.parental_consent_until) == (13, 13, 18)
    assert policy.purpose(policy.age.consent_purpose or "").consent_required
    assert policy.controller.email is None


@pytest.mark.parametrize("name", NAMES)
def test_promises_table_covers_every_rule(name: str) -> None:
    text = (EXAMPLES / name / "PROMISES.md").read_text(encoding="utf-8")
    prefix = {"omni-one": "OO", "onetagger": "OT", "onestepai": "OS"}[name]
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith(f"| {prefix}-")]
    assert all(len(r) == 5 for r in rows), "id | quote | keeps it | test | out of scope"
    ids = [r[0] for r in rows]
    assert ids == [f"{prefix}-{i:02d}" for i in range(1, len(ids) + 1)], "ids are unique and in order"
    assert len(rows) > 50
    for row_id, quote, _keeps, test, scope in rows:
        assert '"' in quote or "“" in quote, f"{row_id} quotes the seed"
        assert test.strip() or scope.strip(), f"{row_id} names a test (or 'not yet') or why it is out of scope"
    policy = _policy(name)
    for rule in policy.retention:
        assert f"retention.{rule.key}" in text, f"retention rule {rule.key} has no row in PROMISES.md"
    for ex in policy.exemptions:
        assert f"exemptions.{ex.key}" in text
