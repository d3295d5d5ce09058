"""The example platforms: schemas on three engines, deterministic realistic data, data maps."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, func, insert, select
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from pledge.cli import app
from pledge.datamap.check import check_dataset
from pledge.datamap.load import load_dataset
from pledge.platforms import PLATFORMS, REFERENCE, PlatformError, create_platform, get_platform, schema
from pledge.store import make_sa_engine
from tests.conftest import EXAMPLES

NAMES = list(PLATFORMS)
YEAR = timedelta(days=365)

#: Foreign keys a request must NOT walk: they lead from a shared parent (workspace,
#: project, organisation, API key) to other people's rows, or to rows reached directly.
NOT_TRAVERSED = {
    "omni-one": {
        "memberships.workspace_id", "invitations.workspace_id", "projects.workspace_id",
        "conversations.workspace_id", "conversations.project_id",
        "files.project_id", "token_usage.conversation_id",
    },
    "onetagger": set(),
    "onestepai": {
        "users.organisation_id", "invoices.organisation_id", "face_tags.annotation_id",
        "api_access_log.api_key_id",
    },
}
#: The exemption each example's retained billing rows name (the policy must define it).
EXEMPTIONS = {"omni-one": {"invoices": "tax_records"}, "onetagger": {"payments": "ksiegowosc"},
              "onestepai": {"invoices": "tax_records"}}


def naive(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


REF = naive(REFERENCE)


def dump(url: str, meta: MetaData) -> dict[str, list[tuple[Any, ...]]]:
    eng = make_sa_engine(url)
    try:
        with eng.connect() as conn:
            return {t.name: [tuple(naive(v) for v in row)
                             for row in conn.execute(select(t).order_by(t.c.id))]
                    for t in meta.sorted_tables}
    finally:
        eng.dispose()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, dict[str, list[tuple[Any, ...]]]]]:
    """Each platform with 400 users on SQLite, and all its rows."""
    out = {}
    for name in NAMES:
        url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'p.db'}"
        create_platform(name, url, 400, progress=False)
        out[name] = (url, dump(url, schema(name)))
    return out


def rows_of(data: dict[str, list[tuple[Any, ...]]], meta: MetaData, table: str) -> list[dict[str, Any]]:
    cols = [c.name for c in meta.tables[table].columns]
    return [dict(zip(cols, r, strict=True)) for r in data[table]]


# -- every engine ------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_creates_on_every_engine_with_foreign_keys_and_logins(name: str, any_db_url: str) -> None:
    # with the boundary rows of a sweep 200 days on: they load on every engine too
    counts = create_platform(name, any_db_url, 30, progress=False, boundary=REFERENCE + timedelta(days=200))
    platform = get_platform(name)
    meta = platform.metadata
    assert set(counts) == set(meta.tables)
    assert all(n > 0 for n in counts.values()), counts
    eng = make_sa_engine(any_db_url)
    try:
        with eng.connect() as conn:
            for t in meta.sorted_tables:
                assert conn.execute(select(func.count()).select_from(t)).scalar_one() == counts[t.name]
        # foreign keys are real: a row pointing nowhere is refused
        child = next(t for t in meta.sorted_tables
                     if any(not fk.parent.nullable for fk in t.foreign_keys))
        fk_col = next(fk.parent for fk in child.foreign_keys if not fk.parent.nullable)
        with pytest.raises(IntegrityError), eng.begin() as conn:
            values = {c.name: _filler(c) for c in child.columns if c.name != "id" and not c.nullable}
            values[fk_col.name] = 10**8
            conn.execute(insert(child).values(**values))
        # a sign-in moves last_login_at and writes a new session row (sequences are past the data)
        users = meta.tables[platform.users_table]
        sessions = meta.tables[platform.sessions_table]
        at = REFERENCE + timedelta(hours=1)
        with eng.connect() as conn:
            before = conn.execute(select(func.count()).select_from(sessions)).scalar_one()
        with eng.begin() as conn:
            platform.record_login(conn, 7, at)
        with eng.connect() as conn:
            assert naive(conn.execute(select(users.c.last_login_at).where(users.c.id == 7)).scalar_one()) == naive(at)
            assert conn.execute(select(func.count()).select_from(sessions)).scalar_one() == before + 1
            newest = conn.execute(select(sessions.c[platform.session_user_column])
                                  .order_by(sessions.c.id.desc()).limit(1)).scalar_one()
            assert newest == 7
    finally:
        eng.dispose()


def _filler(col: Any) -> Any:
    kind = col.type.python_type
    if kind is datetime:
        return REFERENCE
    if kind is bool:
        return True
    if kind is int:
        return 1
    if kind.__name__ == "Decimal":
        return 1
    return f"x{col.name}"


def test_a_database_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    create_platform("onetagger", url, 5, progress=False)
    with pytest.raises(PlatformError, match="not empty"):
        create_platform("onetagger", url, 5, progress=False)
    with pytest.raises(PlatformError, match="unknown platform 'omni-two'"):
        create_platform("omni-two", url, 5, progress=False)


# -- determinism ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_data_other_seed_other_data(name: str, tmp_path: Path) -> None:
    meta = schema(name)
    urls = [f"sqlite:///{tmp_path / f'{i}.db'}" for i in range(3)]
    for url, seed in zip(urls, (5, 5, 6), strict=True):
        create_platform(name, url, 30, seed=seed, progress=False)
    a, b, c = (dump(u, meta) for u in urls)
    assert a == b
    assert a["users" if "users" in a else "accounts"] != c["users" if "users" in c else "accounts"]


@pytest.mark.parametrize("name", NAMES)
def test_boundary_rows_come_after_the_same_bulk_rows(name: str, tmp_path: Path) -> None:
    """Boundary rows are an extra set: the bulk rows stay exactly as they are without them,
    and the extra rows sit around the cutoffs of a sweep at the moment given."""
    meta = schema(name)
    now = REFERENCE + timedelta(days=200)
    plain, edged = (f"sqlite:///{tmp_path / f'{i}.db'}" for i in (0, 1))
    create_platform(name, plain, 30, seed=5, progress=False)
    create_platform(name, edged, 30, seed=5, progress=False, boundary=now)
    a, b = dump(plain, meta), dump(edged, meta)
    assert all(b[t][:len(a[t])] == a[t] for t in a), "the bulk rows do not change"
    extra = {t: b[t][len(a[t]):] for t in a if len(b[t]) > len(a[t])}
    people = get_platform(name).users_table
    assert people in extra and len(extra[people]) >= 8
    # placed around the moment given, not the generator's reference date: some come after it
    stamps = [v for rows in extra.values() for row in rows for v in row if isinstance(v, datetime)]
    assert any(v > REF for v in stamps) and max(stamps) <= naive(now) + timedelta(days=1)


# -- realistic shapes ------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_timestamps_span_six_years(name: str, built: dict[str, Any]) -> None:
    _, data = built[name]
    meta = schema(name)
    people = get_platform(name).users_table
    created = [r["created_at"] for r in rows_of(data, meta, people)]
    assert min(created) < REF - 5.8 * YEAR
    assert max(created) > REF - timedelta(days=30)
    assert max(created) <= REF
    logins = [r["last_login_at"] for r in rows_of(data, meta, people)]
    assert sum(x > REF - timedelta(days=90) for x in logins) > 50  # active people
    assert sum(x < REF - 2 * YEAR for x in logins) > 20  # long inactive ones


def _both_sides(values: list[datetime], days: int) -> tuple[int, int]:
    cutoff = REF - timedelta(days=days)
    return sum(v >= cutoff for v in values), sum(v < cutoff for v in values)


def test_omni_one_shapes(built: dict[str, Any]) -> None:
    _, data = built["omni-one"]
    meta = schema("omni-one")
    users = {r["id"]: r for r in rows_of(data, meta, "users")}
    convs = {r["id"]: r for r in rows_of(data, meta, "conversations")}
    msgs = rows_of(data, meta, "messages")
    per_user = Counter(c["user_id"] for c in convs.values())
    assert sum(per_user.values()) / len(users) > 2  # several conversations per user
    assert len(msgs) / len(convs) > 3
    team = [w for w in rows_of(data, meta, "workspaces") if w["kind"] == "team"]
    members = Counter(m["workspace_id"] for m in rows_of(data, meta, "memberships"))
    assert team and all(members[w["id"]] >= 3 for w in team)
    others = [m for m in msgs if m["author_id"] is not None and m["author_id"] != convs[m["conversation_id"]]["user_id"]]
    assert len(others) > 20  # messages from other members in someone's conversation
    for table, days in (("conversations", 30), ("projects", 30)):
        deleted = [r["deleted_at"] for r in rows_of(data, meta, table) if r["deleted_at"] is not None]
        assert all(side > 0 for side in _both_sides(deleted, days)), table
    closed = [u["closed_at"] for u in users.values() if u["status"] == "closed"]
    assert all(side > 0 for side in _both_sides(closed, 90))
    assert all(side > 0 for side in _both_sides([i["issued_at"] for i in rows_of(data, meta, "invoices")], 5 * 365))
    minors = [u for u in users.values() if u["birth_date"] > (REF - 18 * YEAR).date()]
    assert minors  # the "found child" case for an 18+ service
    sessions = rows_of(data, meta, "login_sessions")
    newest: dict[int, datetime] = {}
    for s in sessions:
        newest[s["user_id"]] = max(newest.get(s["user_id"], s["last_seen_at"]), s["last_seen_at"])
    assert all(newest[u] == users[u]["last_login_at"] for u in users)  # the last session is real


def test_onetagger_shapes(built: dict[str, Any]) -> None:
    _, data = built["onetagger"]
    meta = schema("onetagger")
    accounts = rows_of(data, meta, "accounts")
    assert all(side > 0 for side in _both_sides([a["last_login_at"] for a in accounts], 365))
    assert all(side > 0 for side in _both_sides([p["issued_at"] for p in rows_of(data, meta, "payments")], 5 * 365))
    events = [e["created_at"] for e in rows_of(data, meta, "analytics_events")]
    assert all(side > 0 for side in _both_sides(events, 730))
    assert any(e["account_id"] is None for e in rows_of(data, meta, "analytics_events"))
    emails = {a["email"] for a in accounts}
    visitors = [c for c in rows_of(data, meta, "chat_transcripts") if c["account_id"] is None]
    assert visitors and not any(v["visitor_email"] in emails for v in visitors)
    news = rows_of(data, meta, "newsletter_subscriptions")
    assert {n["status"] for n in news} == {"subscribed", "unsubscribed"}
    assert any(n["account_id"] is None for n in news)
    demos = [d["expires_at"] for d in rows_of(data, meta, "demo_accounts")]
    assert any(d < REF for d in demos)


def test_onestepai_shapes(built: dict[str, Any]) -> None:
    _, data = built["onestepai"]
    meta = schema("onestepai")
    users = {u["id"]: u for u in rows_of(data, meta, "users")}
    orgs = rows_of(data, meta, "organisations")
    assert len(orgs) >= 5
    for org in orgs:
        if org["admin_user_id"] is not None:
            admin = users[org["admin_user_id"]]
            assert admin["role"] == "admin" and admin["organisation_id"] == org["id"]
    org_size = Counter(u["organisation_id"] for u in users.values() if u["organisation_id"])
    assert max(org_size.values()) >= 3  # admins with members
    day = REF.date()

    def age(u: dict[str, Any]) -> int:
        b = u["birth_date"]
        return int(day.year - b.year - ((day.month, day.day) < (b.month, b.day)))

    minors = [u for u in users.values() if 13 <= age(u) < 18]
    assert {u["parental_consent"] for u in minors} >= {True, False}
    assert any(age(u) < 13 for u in users.values())  # found children
    media_owner = {m["id"]: m["user_id"] for m in rows_of(data, meta, "media")}
    uploaders: dict[str, set[int]] = {}
    for tag in rows_of(data, meta, "face_tags"):
        uploaders.setdefault(tag["person_tag"], set()).add(media_owner[tag["media_id"]])
    # people who are not users, each shown in images of several uploaders
    assert sum(len(u) >= 3 for u in uploaders.values()) >= 5
    user_emails = {u["email"] for u in users.values()}
    leads = [c for c in rows_of(data, meta, "marketing_contacts") if c["user_id"] is None]
    assert leads and not any(c["email"] in user_emails for c in leads)


@pytest.mark.parametrize("name", NAMES)
def test_indexes_on_foreign_keys_identities_and_clocks(name: str) -> None:
    meta = schema(name)
    dataset = load_dataset(EXAMPLES / name / "dataset.yaml")
    identities = {f"{c.name}.{f.name}" for _, c, f in dataset.identities() if not f.primary_key}
    clocks = {"deleted_at", "closed_at", "last_login_at", "last_contact_at", "issued_at", "expires_at"}
    for t in meta.sorted_tables:
        leading = {next(iter(ix.columns)).name for ix in t.indexes}
        wanted = {fk.parent.name for fk in t.foreign_keys}
        wanted |= {c.name for c in t.columns if c.name in clocks}
        wanted |= {key.split(".", 1)[1] for key in identities if key.split(".", 1)[0] == t.name}
        assert wanted <= leading, (t.name, wanted - leading)


# -- the data maps -------------------------------------------------------------------------------
def _foreign_keys(meta: MetaData) -> set[tuple[str, str]]:
    return {(f"{t.name}.{fk.parent.name}", f"{fk.column.table.name}.{fk.column.name}")
            for t in meta.sorted_tables for fk in t.foreign_keys}


@pytest.mark.parametrize("name", NAMES)
def test_dataset_matches_schema_and_walks_only_own_rows(name: str, built: dict[str, Any]) -> None:
    dataset = load_dataset(EXAMPLES / name / "dataset.yaml")
    meta = schema(name)
    (db,) = dataset.databases
    assert db.name == "main" and db.url is None
    assert {c.name for c in db.collections} == set(meta.tables)
    for coll in db.collections:
        cols = set(meta.tables[coll.name].columns.keys())
        assert {f.name for f in coll.fields} <= cols, coll.name
        assert coll.primary_key == ["id"]
    declared = {(src.split(".", 1)[1], ref.field.split(".", 1)[1]) for src, ref in dataset.references()}
    fks = _foreign_keys(meta)
    assert declared <= fks  # every reference is a real foreign key
    assert {src for src, _ in fks - declared} == NOT_TRAVERSED[name]
    url, _ = built[name]
    findings = check_dataset(dataset, lambda _db: make_sa_engine(url))
    assert [str(f) for f in findings if f.severity == "error"] == []


def test_dataset_identities_and_shared_content() -> None:
    idents = {}
    for name in NAMES:
        ds = load_dataset(EXAMPLES / name / "dataset.yaml")
        idents[name] = {f"{c.name}.{f.name}": f.identity for _, c, f in ds.identities()}
        for table, key in EXEMPTIONS[name].items():
            assert ds.database("main").collection(table).exemption == key
    assert idents["omni-one"] == {"users.id": "user_id", "users.email": "email",
                                  "users.stripe_customer_id": "external_id", "invitations.email": "email"}
    assert idents["onestepai"]["face_tags.person_tag"] == "person_tag"
    assert idents["onetagger"]["newsletter_subscriptions.email"] == "email"
    assert idents["onetagger"]["chat_transcripts.visitor_email"] == "email"
    omni = load_dataset(EXAMPLES / "omni-one" / "dataset.yaml").database("main")
    assert omni.collection("messages").shared == "anonymise"
    step = load_dataset(EXAMPLES / "onestepai" / "dataset.yaml").database("main")
    assert step.collection("face_tags").shared == "anonymise"


@pytest.mark.parametrize("name", NAMES)
def test_policy_defines_the_exemptions_the_dataset_names(name: str) -> None:
    from pledge.policy.load import load_policy

    path = EXAMPLES / name / "policy.yaml"
    if not path.exists():
        pytest.skip(f"{path} is not written yet")
    keys = {e.key for e in load_policy(path).exemptions}
    assert set(EXEMPTIONS[name].values()) <= keys


# -- the command -------------------------------------------------------------------------------------
def test_cli_create_list_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLEDGE_PLATFORM_URL", raising=False)
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'a.db'}"
    res = runner.invoke(app, ["platform", "create", "onestepai", "--url", url, "--users", "12", "--quiet", "--json"])
    assert res.exit_code == 0, res.output
    assert '"users": 12' in res.output
    res = runner.invoke(app, ["platform", "create", "onestepai", "--url", url, "--users", "12", "-q"])
    assert res.exit_code == 2 and "not empty" in res.output
    res = runner.invoke(app, ["platform", "create", "omni-two", "--url", url, "-q"])
    assert res.exit_code == 2 and "unknown platform" in res.output and "omni-one" in res.output
    cfg = tmp_path / "cfg" / "pledge.yaml"
    cfg.parent.mkdir()
    cfg.write_text("name: t\nplatform: onetagger\npolicy: policy.yaml\ndataset: dataset.yaml\n"
                   "platform_url: sqlite:///built.db\n", encoding="utf-8")
    res = runner.invoke(app, ["platform", "create", "-c", str(cfg), "--users", "9", "-q"])
    assert res.exit_code == 0, res.output
    eng = make_sa_engine(f"sqlite:///{cfg.parent / 'built.db'}")
    with eng.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema("onetagger").tables["accounts"])).scalar_one() == 9
    eng.dispose()
    res = runner.invoke(app, ["platform", "list", "--json"])
    assert res.exit_code == 0 and all(n in res.output for n in NAMES)
