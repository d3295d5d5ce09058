"""Retention correctness after time travel, shared by the in-process and the Celery tests.

Each ``check_<platform>`` reads the platform before the sweep, sets holds, runs one sweep
with ``sweeper`` (``sweep.run`` in process, ``sweep_fanout`` on workers) and checks both
directions with SQL written here from the seed's own words, never from ``policy.yaml``
and never with the sweep's own selection:

* nothing past its period is kept (deleted, or anonymised where the seed says so), except
  rows under a hold or a legal exemption;
* nothing inside its period is gone or changed.

The platforms are generated with boundary rows for the sweep's moment
(``create_platform(..., boundary=NOW)``): every clock has rows a day and an hour either
side of its cutoff, and each check first asserts that they are there, so a grace period
added to a cutoff, or a cutoff moved to "now", cannot pass. The rows to check are chosen
*before* the sweep, so a rule that deletes what it should anonymise leaves nothing to
hide behind.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine as SAEngine

from pledge.engine import Engine
from pledge.platforms import REFERENCE
from pledge.retention import sweep
from pledge.retention.holds import Holds
from tests.erasure_support import snapshot
from tests.retention_support import naive

Sweeper = Callable[[Engine, datetime], dict[str, Any]]
Rows = dict[Any, dict[str, Any]]

NOW = REFERENCE + timedelta(days=200)
HOLD_UNTIL = NOW + timedelta(days=365)
#: the sweep's moment as the platform stores times (naive UTC)
T = NOW.replace(tzinfo=None)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


# -- clocks, written here rather than taken from Pledge --------------------------------------------
def months_before(moment: datetime, months: int) -> datetime:
    """``moment`` moved back by calendar months, the day clamped to the month's end."""
    total = moment.year * 12 + moment.month - 1 - months
    year, month = total // 12, total % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def legal_period_runs(issued: Any, years: int) -> bool:
    """A legal period of ``years`` counted from the end of the calendar year of ``issued``
    still runs at the sweep's moment (tax and accounting laws count so)."""
    moment = naive(issued)
    assert moment is not None
    return datetime(moment.year + years + 1, 1, 1) > T  # the period ends as that year begins


# -- reading and asserting -------------------------------------------------------------------------
def table(eng: SAEngine, sql: str) -> Rows:
    """Rows by their first column (the primary key), as mappings."""
    with eng.connect() as conn:
        return {r[0]: dict(r._mapping) for r in conn.execute(text(sql))}


def clocks(rows: Rows, column: str, keys: Collection[Any] | None = None) -> dict[Any, datetime | None]:
    return {k: naive(r[column]) for k, r in rows.items() if keys is None or k in keys}


def before(values: Mapping[Any, datetime | None], cut: datetime) -> set[Any]:
    """Keys whose clock started before ``cut`` (a NULL clock has not started)."""
    return {k for k, v in values.items() if v is not None and v < cut}


def edges(what: str, values: Mapping[Any, datetime | None], cut: datetime,
          widths: tuple[timedelta, ...] = (DAY, HOUR)) -> tuple[set[Any], set[Any]]:
    """Rows sit just before and just after ``cut``: without them the checks prove nothing.
    Returns the keys within the narrowest width before and after it."""
    sides: tuple[set[Any], set[Any]] = (set(), set())
    for width in widths:
        sides = ({k for k, v in values.items() if v is not None and cut - width <= v < cut},
                 {k for k, v in values.items() if v is not None and cut <= v <= cut + width})
        for side, found in zip(("before", "after"), sides, strict=True):
            assert found, (f"{what}: no row in the {width} {side} the cutoff {cut:%Y-%m-%d %H:%M}; "
                           "generate the platform with boundary rows (create_platform(..., boundary=NOW))")
    return sides


def gone(eng: SAEngine, sql: str, keys: Collection[Any], what: str) -> None:
    """None of ``keys`` is left (``sql`` selects the table's keys first)."""
    left = sorted(set(table(eng, sql)) & set(keys))
    assert not left, f"{what}: {len(left)} rows past their period are still there, e.g. {left[:5]}"


def present(eng: SAEngine, sql: str, keys: Collection[Any], what: str) -> None:
    """Every one of ``keys`` is still there (``sql`` selects the table's keys first)."""
    missing = sorted(set(keys) - set(table(eng, sql)))
    assert not missing, f"{what}: {len(missing)} rows that must stay are gone, e.g. {missing[:5]}"


def untouched(eng: SAEngine, sql: str, was: Rows, keys: Collection[Any], what: str,
              columns: tuple[str, ...] | None = None) -> Rows:
    """Every one of ``keys`` is still there with the values it had (all, or ``columns``)."""
    now = table(eng, sql)
    missing = sorted(k for k in keys if k not in now)
    assert not missing, f"{what}: {len(missing)} rows inside their period are gone, e.g. {missing[:5]}"

    def part(row: dict[str, Any]) -> dict[str, Any]:
        return row if columns is None else {c: row[c] for c in columns}
    changed = sorted(k for k in keys if part(now[k]) != part(was[k]))
    assert not changed, (f"{what}: {len(changed)} rows inside their period were changed, e.g. "
                         f"{[(part(was[k]), part(now[k])) for k in changed[:2]]}")
    return now


def tax_edges(what: str, issued: Mapping[Any, datetime | None], years: int) -> None:
    """Rows on both sides of the end of a legal period counted from the end of the year: the
    last hour of the newest year already out, the first hour of the next one, and a row more
    than ``years`` old that only the year's end keeps."""
    out_year = T.year - years - 1
    moments = [v for v in issued.values() if v is not None]
    year_end = datetime(out_year + 1, 1, 1)
    assert any(year_end - HOUR <= v < year_end for v in moments), f"{what}: nothing in the last hour of {out_year}"
    assert any(year_end <= v <= year_end + HOUR for v in moments), f"{what}: nothing in the first hour of {out_year + 1}"
    assert any(v < months_before(T, 12 * years) and legal_period_runs(v, years) for v in moments), (
        f"{what}: no row older than {years} years that the year's end still keeps")


# -- omni-one ----------------------------------------------------------------------------------------
def check_omni_one(engine: Engine, sweeper: Sweeper) -> None:
    eng = engine.platform_engine("main")
    # 6.2: "Individual conversations: Permanently deleted from our servers within 30 days"
    conversations_cut = T - timedelta(days=30)
    # 6.2: "Projects: All associated data is permanently deleted within 30 days"
    projects_cut = T - timedelta(days=30)
    # 6.2: "Account: All data is permanently deleted within 90 days, except as required by law"
    accounts_cut = T - timedelta(days=90)
    # 6.3: "To comply with legal obligations (tax records: 5 years in Poland)"; the Polish Tax
    # Ordinance (art. 70 § 1, art. 86 § 1) counts them from the end of the calendar year.
    tax_years = 5

    users = table(eng, "SELECT * FROM users")
    closed = {k for k, r in users.items() if r["status"] == "closed" and r["closed_at"] is not None}
    closed_at = clocks(users, "closed_at", closed)
    users_out, users_in = edges("closed accounts", closed_at, accounts_cut)
    expired_users = sorted(before(closed_at, accounts_cut))
    assert len(expired_users) >= 2, "the generator should leave closed accounts past 90 days"
    held_user = expired_users[0]
    doomed_users = set(expired_users[1:])
    Holds(engine).add_person({"email": users[held_user]["email"]}, reason="court case 12/2027", expires_at=HOLD_UNTIL)

    convs = table(eng, "SELECT * FROM conversations")
    projects = table(eng, "SELECT * FROM projects")
    messages = table(eng, "SELECT id, conversation_id, author_id FROM messages")
    deleted_conv = clocks(convs, "deleted_at")
    conv_out, conv_in = edges("deleted conversations", deleted_conv, conversations_cut)
    mine = {k for k, r in convs.items() if r["user_id"] == held_user}
    held_conv = min(before(deleted_conv, conversations_cut) - mine)
    Holds(engine).add_records("main.conversations", ids=[held_conv], reason="litigation", expires_at=HOLD_UNTIL)
    held_messages = {k for k, r in messages.items() if r["conversation_id"] == held_conv}

    deleted_proj = clocks(projects, "deleted_at")
    live = {k for k, r in convs.items() if r["deleted_at"] is None and r["project_id"] is not None}
    proj_out, proj_in = edges("deleted projects that still hold live conversations", {
        p: v for p, v in deleted_proj.items() if any(convs[c]["project_id"] == p for c in live)}, projects_cut)
    spared_projects = ({k for k, r in projects.items() if r["owner_id"] == held_user}
                       | {convs[c]["project_id"] for c in mine | {held_conv}})
    doomed_projects = before(deleted_proj, projects_cut) - spared_projects
    # the cascade: every conversation of a doomed project goes, live or not
    doomed_convs = ((before(deleted_conv, conversations_cut) - mine - {held_conv})
                    | {k for k, r in convs.items() if r["project_id"] in doomed_projects}
                    | {k for k, r in convs.items() if r["user_id"] in doomed_users})
    kept_convs = {k for k, r in convs.items() if k not in doomed_convs and r["user_id"] not in doomed_users}
    kept_projects = {k for k, r in projects.items() if k not in doomed_projects and r["owner_id"] not in doomed_users}
    # the boundary rows are among the rows checked, on the side their clock says
    assert conv_out <= doomed_convs and conv_in <= kept_convs
    assert proj_out <= doomed_projects and proj_in <= kept_projects
    assert {c for c in live if convs[c]["project_id"] in proj_out} <= doomed_convs
    assert users_out <= doomed_users and not users_in & doomed_users

    events = table(eng, "SELECT * FROM analytics_events")
    doomed_events = {k for k, r in events.items() if r["user_id"] in doomed_users}
    invoices = table(eng, "SELECT * FROM invoices")
    doomed_invoices = {k for k, r in invoices.items() if r["user_id"] in doomed_users}
    issued = clocks(invoices, "issued_at", doomed_invoices)
    tax_edges("invoices of closed accounts past 90 days", issued, tax_years)
    tax_kept = {k for k in doomed_invoices if legal_period_runs(invoices[k]["issued_at"], tax_years)}

    first = sweeper(engine, NOW)
    assert first["status"] == "done" and first["total_rows"] > 0

    # expired: gone
    gone(eng, "SELECT id FROM conversations", doomed_convs, "conversations deleted 30 days ago, or in such projects")
    gone(eng, "SELECT id FROM messages", {k for k, r in messages.items() if r["conversation_id"] in doomed_convs},
         "messages of those conversations")
    gone(eng, "SELECT id FROM projects", doomed_projects, "projects deleted 30 days ago")
    gone(eng, "SELECT id FROM users", doomed_users, "accounts closed 90 days ago")
    gone(eng, "SELECT id FROM invoices", doomed_invoices - tax_kept, "invoices of closed accounts past the tax period")
    after = table(eng, "SELECT id, user_id, ip_address, session_id FROM analytics_events")
    for k in doomed_events:
        # anonymised: no person link, no IP; the session id is only a keyed pseudonym now
        assert k in after and after[k]["user_id"] is None and after[k]["ip_address"] is None, after.get(k)
        session = after[k]["session_id"]
        assert session is None or (session.startswith("pz_") and session != events[k]["session_id"])
    assert doomed_events
    # held or exempt: kept
    left = table(eng, "SELECT id, closed_at FROM users WHERE status = 'closed'")
    assert before(clocks(left, "closed_at"), accounts_cut) == {held_user}
    assert held_messages
    present(eng, "SELECT id FROM messages", held_messages, "messages of the held conversation")
    present(eng, "SELECT id FROM conversations", {held_conv}, "the held conversation")
    present(eng, "SELECT id FROM invoices", tax_kept, "invoices inside the tax period (from the end of the year of issue)")
    # inside: untouched
    untouched(eng, "SELECT * FROM conversations", convs, kept_convs, "conversations inside 30 days",
              columns=("user_id", "title", "deleted_at"))
    present(eng, "SELECT id FROM messages", {k for k, r in messages.items() if r["conversation_id"] in kept_convs},
            "their messages")
    untouched(eng, "SELECT * FROM projects", projects, kept_projects, "projects inside 30 days",
              columns=("name", "deleted_at"))
    untouched(eng, "SELECT * FROM users", users, set(users) - doomed_users, "accounts open or closed under 90 days")
    untouched(eng, "SELECT * FROM analytics_events", events, set(events) - doomed_events,
              "analytics events of visitors and of accounts open, held or closed under 90 days")
    untouched(eng, "SELECT * FROM invoices", invoices, set(invoices) - doomed_invoices,
              "invoices of accounts open, held or closed under 90 days")


# -- onetagger ---------------------------------------------------------------------------------------
#: rows of an account that the inactivity rules delete (1.2 "Funkcjonalność", 1.4 "Komunikacja")
ACCOUNT_CONTENT = ("containers", "comments", "survey_answers", "support_tickets", "chat_transcripts")


def check_onetagger(engine: Engine, sweeper: Sweeper) -> None:
    eng = engine.platform_engine("main")
    # 1.1–1.4: "Jeśli użytkownik stanie się nieaktywny, usuniemy lub zanonimizujemy jego dane w ciągu
    # 12 miesięcy od ostatniej sesji użytkownika." An account that never signed in had one session:
    # the one in which it was created.
    inactive_cut = months_before(T, 12)
    # 1.6: log files "przechowywane maksymalnie przez 12 miesięcy od ostatniej wizyty"
    logs_cut = months_before(T, 12)
    # 1.6: "Przechowujemy dane marketingowe przez 12 miesięcy od ostatniej komunikacji z użytkownikiem."
    # (never contacted: the sign-up was the last communication)
    marketing_cut = months_before(T, 12)
    # 2.1: "Dane analityczne zostaną usunięte w ciągu 24 miesięcy od ostatniej wizyty w witrynie."
    analytics_cut = months_before(T, 24)
    # 2.1: "… lub dopóki Twoje konto jest aktywne, w zależności od tego, co nastąpi szybciej": a closed
    # account's analytics go at once, and so do those of an account inactive for 12 months (1.1).
    closing_cut = T
    # "Z wyłączeniem informacji wymaganych dla naszej księgowości": Connexeon BV keeps accounting
    # documents 10 years from 1 January after their date (Belgian VAT Code, art. 60 § 4).
    accounting_years = 10

    accounts = table(eng, "SELECT * FROM accounts")
    session = {k: naive(r["last_login_at"] or r["created_at"]) for k, r in accounts.items()}
    acc_out, acc_in = edges("accounts by their last sign-in", clocks(accounts, "last_login_at"), inactive_cut)
    never = {k for k, r in accounts.items() if r["last_login_at"] is None}
    never_out, never_in = edges("accounts that never signed in, by sign-up", clocks(accounts, "created_at", never),
                                inactive_cut, widths=(DAY,))
    inactive = before(session, inactive_cut)
    assert acc_out | never_out <= inactive and not (acc_in | never_in) & inactive

    content = {t: table(eng, f"SELECT * FROM {t} WHERE account_id IS NOT NULL") for t in ACCOUNT_CONTENT}
    for name, rows in content.items():
        edges(f"{name} by their account's last session", {k: session[r["account_id"]] for k, r in rows.items()},
              inactive_cut)
    profiles = table(eng, "SELECT * FROM billing_profiles")
    edges("billing profiles by their account's last session",
          {k: session[r["account_id"]] for k, r in profiles.items()}, inactive_cut)
    payments = table(eng, "SELECT * FROM payments")
    inactive_payments = {k for k, r in payments.items() if r["account_id"] in inactive}
    tax_edges("payments of inactive accounts", clocks(payments, "issued_at", inactive_payments), accounting_years)
    accounting = {k for k in inactive_payments if legal_period_runs(payments[k]["issued_at"], accounting_years)}

    logs = table(eng, "SELECT * FROM web_logs")
    logs_out, logs_in = edges("log lines", clocks(logs, "created_at"), logs_cut)
    old_logs = before(clocks(logs, "created_at"), logs_cut)
    held_log = min(old_logs)
    Holds(engine).add_records("main.web_logs", ids=[held_log], reason="security incident", expires_at=HOLD_UNTIL)

    events = table(eng, "SELECT * FROM analytics_events")
    closed_at = {a: naive(r["closed_at"]) for a, r in accounts.items()}
    open_events = {k for k, r in events.items() if r["account_id"] is None or closed_at[r["account_id"]] is None}
    active_events = {k for k in open_events if events[k]["account_id"] not in inactive}
    ev_out, ev_in = edges("analytics events", clocks(events, "created_at", active_events), analytics_cut)
    closing = {k: closed_at[r["account_id"]] for k, r in events.items() if k not in open_events}
    close_out, close_in = edges("analytics events of closing accounts", closing, closing_cut)
    quiet_out, quiet_in = edges("analytics events by their account's last session", {
        k: session[r["account_id"]] for k, r in events.items() if k in open_events and r["account_id"]},
        inactive_cut)
    doomed_events = (before(clocks(events, "created_at"), analytics_cut) | before(closing, closing_cut)
                     | {k for k, r in events.items() if r["account_id"] in inactive})
    assert ev_out | close_out | quiet_out <= doomed_events and not (ev_in | close_in | quiet_in) & doomed_events

    news = table(eng, "SELECT * FROM newsletter_subscriptions")
    contact = {k: naive(r["last_contact_at"] or r["created_at"]) for k, r in news.items()}
    news_out, news_in = edges("newsletter sign-ups by last contact", clocks(news, "last_contact_at"), marketing_cut)
    quiet = {k for k, r in news.items() if r["last_contact_at"] is None}
    edges("newsletter sign-ups never contacted, by sign-up", clocks(news, "created_at", quiet), marketing_cut,
          widths=(DAY,))
    doomed_news = before(contact, marketing_cut)

    sweeper(engine, NOW)

    # inactive accounts: anonymised, not deleted (payments point at them)
    after = table(eng, "SELECT * FROM accounts")
    for k in inactive:
        was, now = accounts[k], after.get(k)
        assert now is not None, "accounts are anonymised, not deleted (payments point at them)"
        for field in ("email", "name", "phone", "company"):
            assert was[field] is None or (now[field] != was[field] and (now[field] is None or
                                                                        was[field] not in now[field])), (k, field)
    untouched(eng, "SELECT * FROM accounts", accounts, set(accounts) - inactive, "accounts active in 12 months")
    prof_after = table(eng, "SELECT * FROM billing_profiles")
    for k, r in profiles.items():
        if r["account_id"] in inactive:
            for field in ("company_name", "tax_id", "address"):
                assert r[field] is None or prof_after[k][field] != r[field], (k, field)
    untouched(eng, "SELECT * FROM billing_profiles", profiles,
              {k for k, r in profiles.items() if r["account_id"] not in inactive}, "billing profiles of active accounts")
    for name, rows in content.items():
        gone(eng, f"SELECT id FROM {name}", {k for k, r in rows.items() if r["account_id"] in inactive},
             f"{name} of accounts inactive for 12 months")
        untouched(eng, f"SELECT * FROM {name}", rows, {k for k, r in rows.items() if r["account_id"] not in inactive},
                  f"{name} of active accounts")
    gone(eng, "SELECT id FROM payments", inactive_payments - accounting,
         "payments of inactive accounts past the accounting period")
    untouched(eng, "SELECT * FROM payments", payments, set(payments) - (inactive_payments - accounting),
              "payments of active accounts, or inside the accounting period")
    gone(eng, "SELECT id FROM web_logs", old_logs - {held_log}, "log lines older than 12 months")
    untouched(eng, "SELECT * FROM web_logs", logs, (set(logs) - old_logs) | {held_log},
              "log lines of the last 12 months, and the held one")
    gone(eng, "SELECT id FROM analytics_events", doomed_events,
         "analytics events past 24 months, or of accounts closed or inactive for 12 months")
    untouched(eng, "SELECT * FROM analytics_events", events, set(events) - doomed_events,
              "analytics events of the last 24 months of active accounts and visitors")
    assert news_out <= doomed_news and not news_in & doomed_news
    gone(eng, "SELECT id FROM newsletter_subscriptions", doomed_news, "sign-ups not contacted for 12 months")
    untouched(eng, "SELECT * FROM newsletter_subscriptions", news, set(news) - doomed_news,
              "sign-ups contacted in the last 12 months")


# -- onestepai ---------------------------------------------------------------------------------------
def check_onestepai(engine: Engine, sweeper: Sweeper) -> None:
    eng = engine.platform_engine("main")
    # The seed names no numbers, only "a reasonable period"; the deployment fixed them
    # (PROMISES.md OS-43, OS-47, OS-49, OS-50): 6 months after closing for "a reasonable period
    # thereafter in case you decide to re-activate the Services" and for organisation members …
    closed_cut = months_before(T, 6)
    # … 24 months from "the date you last expressed interest in our Services" …
    marketing_cut = months_before(T, 24)
    # … and 13 months from "the date such information was created" (the API access log).
    tracking_cut = months_before(T, 13)
    # "to comply with our legal obligations": Polish tax records, 5 years from the end of the year.
    tax_years = 5

    users = table(eng, "SELECT * FROM users")
    closed = {k: naive(r["closed_at"]) for k, r in users.items() if r["status"] == "closed"}
    alone = {k: v for k, v in closed.items() if users[k]["organisation_id"] is None}
    members = {k: v for k, v in closed.items() if users[k]["organisation_id"] is not None}
    alone_out, alone_in = edges("closed individual accounts", alone, closed_cut)
    members_out, members_in = edges("closed accounts of organisation members", members, closed_cut)
    # chosen before the sweep: a rule that deleted them could not hide behind an empty loop
    doomed = before(alone, closed_cut)
    anonymise = before(members, closed_cut)
    assert alone_out <= doomed and members_out <= anonymise and not (alone_in | members_in) & (doomed | anonymise)
    doomed_emails = {users[k]["email"] for k in doomed}

    logs = table(eng, "SELECT * FROM api_access_log")
    log_clock = clocks(logs, "created_at")
    edges("API log lines", log_clock, tracking_cut)
    old = sorted(before(log_clock, tracking_cut))
    held = set(old[:2])
    Holds(engine).add_records("main.api_access_log", condition=f"id = {old[0]} OR id = {old[1]}",
                              reason="regulator inquiry", expires_at=HOLD_UNTIL)
    doomed_logs = (set(old) - held) | {k for k, r in logs.items() if r["user_id"] in doomed}

    contacts = table(eng, "SELECT * FROM marketing_contacts")
    interest = {k: naive(r["last_contact_at"] or r["created_at"]) for k, r in contacts.items()}
    edges("marketing contacts by last contact", clocks(contacts, "last_contact_at"), marketing_cut)
    quiet = {k for k, r in contacts.items() if r["last_contact_at"] is None}
    edges("marketing contacts never contacted, by sign-up", clocks(contacts, "created_at", quiet), marketing_cut,
          widths=(DAY,))
    doomed_contacts = before(interest, marketing_cut) | {
        k for k, r in contacts.items() if r["user_id"] in doomed or r["email"] in doomed_emails}

    media = table(eng, "SELECT * FROM media")
    invoices = table(eng, "SELECT * FROM invoices")
    doomed_invoices = {k for k, r in invoices.items() if r["user_id"] in doomed}
    tax_edges("invoices of closed individual accounts", clocks(invoices, "issued_at", doomed_invoices), tax_years)
    tax_kept = {k for k in doomed_invoices if legal_period_runs(invoices[k]["issued_at"], tax_years)}

    sweeper(engine, NOW)

    gone(eng, "SELECT id FROM users", doomed, "individual accounts closed 6 months ago")
    gone(eng, "SELECT id FROM media", {k for k, r in media.items() if r["user_id"] in doomed}, "their uploads")
    gone(eng, "SELECT id FROM api_access_log", doomed_logs, "API log lines past 13 months, or of erased accounts")
    gone(eng, "SELECT id FROM marketing_contacts", doomed_contacts, "marketing contacts past 24 months")
    gone(eng, "SELECT id FROM invoices", doomed_invoices - tax_kept, "invoices past the tax period")
    present(eng, "SELECT id FROM invoices", tax_kept, "invoices inside the tax period (from the end of the year)")
    after = table(eng, "SELECT * FROM users")
    for k in anonymise:  # "some of your information … will remain": the person's identifiers do not
        assert k in after, "an organisation member's account is anonymised, not deleted"
        row = after[k]
        assert row["email"].startswith("[redacted") and row["name"] in (None, "[redacted]"), row
        assert row["phone"] is None and row["birth_date"] is None, row
    untouched(eng, "SELECT * FROM users", users, set(users) - doomed - anonymise,
              "accounts open, or closed less than 6 months ago")
    untouched(eng, "SELECT * FROM media", media, {k for k, r in media.items() if r["user_id"] not in doomed},
              "uploads of open accounts and of organisation members (the content stays)")
    untouched(eng, "SELECT * FROM api_access_log", logs, set(logs) - doomed_logs,
              "API log lines of the last 13 months, and the held ones")
    untouched(eng, "SELECT * FROM marketing_contacts", contacts, set(contacts) - doomed_contacts,
              "marketing contacts of the last 24 months")
    untouched(eng, "SELECT * FROM invoices", invoices, set(invoices) - doomed_invoices,
              "invoices of accounts that are not erased")


CHECKS = {"omni-one": check_omni_one, "onetagger": check_onetagger, "onestepai": check_onestepai}


def check_time_travel(engine: Engine, platform: str, sweeper: Sweeper = sweep.run,
                      again_sweeper: Sweeper | None = None) -> None:
    """The platform's checks around one sweep, then a second sweep (``again_sweeper``,
    by default ``sweeper``) that finds nothing."""
    CHECKS[platform](engine, sweeper)
    state = snapshot(engine.platform_engine("main"))
    again = (again_sweeper or sweeper)(engine, NOW)
    assert again["total_rows"] == 0, again
    assert snapshot(engine.platform_engine("main")) == state
    assert sweep.plan(engine, NOW)["total_rows"] == 0
    assert engine.audit.verify() == []
    assert engine.audit.entries(action="retention.sweep.batch")
