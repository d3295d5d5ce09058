"""onetagger: hosted server-side tagging (Polish company, Polish-speaking customers).

Accounts run tagging containers and pay monthly; they post in the community, open
support tickets, chat live, answer surveys. Visitors who never made an account leave
web logs, analytics hits, chat transcripts and newsletter sign-ups under an email
only. Demo accounts expire after two weeks. Many accounts have not signed in for more
than twelve months, so the inactivity rule and its accounting exemption both have work.
:func:`boundary_rows` adds rows a day and an hour either side of each clock's cutoff.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Connection, Numeric, String, Table, Text, insert, update

from pledge.platforms.bulk import (
    DAY,
    EDGES,
    SPAN,
    USER_AGENTS,
    Boundary,
    Gen,
    Loader,
    Pools,
    Run,
    chunks,
    created,
    fk,
    lower_indexes,
    new_metadata,
    pk,
    stamp,
)

metadata = new_metadata()

accounts = Table(
    "accounts", metadata, pk(), created(),
    Column("email", String(255), nullable=False, unique=True, index=True),
    Column("name", String(200), nullable=False),
    Column("phone", String(40), index=True),
    Column("company", String(200)),
    Column("status", String(20), nullable=False, index=True),
    stamp("last_login_at"),
    stamp("closed_at"),
)
billing_profiles = Table(
    "billing_profiles", metadata, pk(), created(),
    fk("account_id", "accounts.id"),
    Column("company_name", String(200), nullable=False),
    Column("tax_id", String(40)),
    Column("address", String(400), nullable=False),
)
containers = Table(
    "containers", metadata, pk(), created(),
    fk("account_id", "accounts.id"),
    Column("domain", String(200), nullable=False),
    Column("region", String(20), nullable=False),
)
comments = Table(
    "comments", metadata, pk(), created(),
    fk("account_id", "accounts.id"),
    Column("body", Text, nullable=False),
    stamp("deleted_at"),
)
support_tickets = Table(
    "support_tickets", metadata, pk(), created(),
    fk("account_id", "accounts.id"),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    stamp("closed_at"),
)
chat_transcripts = Table(
    "chat_transcripts", metadata, pk(), created(index=True),
    fk("account_id", "accounts.id", nullable=True, ondelete="SET NULL"),
    Column("visitor_email", String(255), index=True),
    Column("transcript", Text, nullable=False),
)
survey_answers = Table(
    "survey_answers", metadata, pk(), created(),
    fk("account_id", "accounts.id"),
    Column("answers", Text, nullable=False),
)
payments = Table(
    "payments", metadata, pk(), created(),
    fk("account_id", "accounts.id", nullable=True, ondelete="SET NULL"),
    Column("amount", Numeric(10, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    stamp("issued_at", nullable=False),
    Column("invoice_number", String(40), nullable=False, unique=True),
    Column("payer_name", String(200), nullable=False),
)
web_logs = Table(
    "web_logs", metadata, pk(), created(index=True),
    fk("account_id", "accounts.id", nullable=True, ondelete="SET NULL"),
    Column("ip_address", String(45), nullable=False),
    Column("user_agent", String(300)),
    Column("path", String(200), nullable=False),
)
analytics_events = Table(
    "analytics_events", metadata, pk(), created(index=True),
    fk("account_id", "accounts.id", nullable=True, ondelete="SET NULL"),
    Column("client_id", String(64), nullable=False, index=True),
    Column("ip_address", String(45)),
    Column("page", String(200), nullable=False),
)
newsletter_subscriptions = Table(
    "newsletter_subscriptions", metadata, pk(), created(),
    Column("email", String(255), nullable=False, index=True),
    fk("account_id", "accounts.id", nullable=True, ondelete="SET NULL"),
    Column("status", String(20), nullable=False),
    stamp("last_contact_at"),
)
demo_accounts = Table(
    "demo_accounts", metadata, pk(), created(),
    Column("email", String(255), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    stamp("expires_at", nullable=False),
)
# emails are matched case-insensitively
lower_indexes(accounts.c.email, chat_transcripts.c.visitor_email, newsletter_subscriptions.c.email,
              demo_accounts.c.email)

REGIONS = ("europe-central2", "europe-west3", "europe-west1", "us-east1")
PATHS = ("/", "/logowanie", "/panel", "/cennik", "/dokumentacja", "/kontenery", "/faktury", "/blog")
PAGES = ("/", "/cennik", "/funkcje", "/kontakt", "/blog/server-side-tagging", "/demo", "/regulamin")
SUBJECTS = ("Kontener nie odpowiada", "Pytanie o fakturę", "Zmiana planu", "Błąd w tagu GA4",
            "Konfiguracja domeny", "Limit zapytań")
PRICES = (Decimal("49.00"), Decimal("99.00"), Decimal("249.00"))


class _Generator:
    def __init__(self, loader: Loader, gen: Gen) -> None:
        self.w = loader
        self.g = gen
        self.ids = dict.fromkeys(metadata.tables, 0)
        self.prices: tuple[Any, ...] = (
            tuple(str(p) for p in PRICES) if loader.dialect == "sqlite" else PRICES)

    def next(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def account(self, a: int, n: int) -> None:
        g, w, r = self.g, self.w, self.g.r
        ca = max(DAY, SPAN * (1 - (a - 1) / max(n, 1)) - r() * DAY)
        p = g.person(a)
        company = g.pick(g.p.companies) if r() < 0.7 else None
        # About half still sign in; the rest went quiet at any time since they joined.
        last_login = g.ago_after(ca, recent_share=0.5, recent=200 * DAY)
        status, closed = "active", None
        if r() < 0.05:
            status, closed = "closed", g.ago_after(last_login, 0.4, 120 * DAY)
        w.add("accounts", (a, w.ts(ca), p.email, p.name, g.phone() if r() < 0.6 else None, company, status,
                           w.ts(last_login), None if closed is None else w.ts(closed)))
        paying = r() < 0.55
        if paying:
            tax = f"PL{g.between(1_000_000_000, 9_999_999_999)}" if company else None
            w.add("billing_profiles", (self.next("billing_profiles"), w.ts(ca), a, company or p.name, tax,
                                       g.pick(g.p.addresses)))
            start, price = r() * ca, g.pick(self.prices)
            for k in range(g.between(1, 14)):
                at = start - k * 30 * DAY
                if at < 0:
                    break
                pid = self.next("payments")
                w.add("payments", (pid, w.ts(at), a, price, "PLN", w.ts(at), f"FV/{pid:07d}",
                                   company or p.name))
        for _ in range(g.between(1, 3)):
            w.add("containers", (self.next("containers"), w.ts(r() * ca), a,
                                 f"sst.{g.pick(g.p.words)}{a}.pl", g.pick(REGIONS)))
        for _ in range(int(r() * r() * 4)):
            ago = r() * ca
            deleted = w.ts(g.ago_after(ago, 0.5, 60 * DAY)) if r() < 0.1 else None
            w.add("comments", (self.next("comments"), w.ts(ago), a, g.pick(g.p.sentences), deleted))
        for _ in range(int(r() * 2.2)):
            ago = r() * ca
            closed_t = w.ts(g.ago_after(ago)) if r() < 0.85 else None
            w.add("support_tickets", (self.next("support_tickets"), w.ts(ago), a, g.pick(SUBJECTS),
                                      g.pick(g.p.paragraphs), closed_t))
        if r() < 0.3:
            w.add("chat_transcripts", (self.next("chat_transcripts"), w.ts(r() * ca), a, p.email,
                                       self.transcript()))
        if r() < 0.3:
            answers = {"nps": g.between(0, 10), "rola": g.pick(("marketer", "developer", "agency")),
                       "uwagi": g.pick(g.p.sentences)}
            w.add("survey_answers", (self.next("survey_answers"), w.ts(r() * ca), a,
                                     json.dumps(answers, ensure_ascii=False)))
        client = g.token(16)
        for _ in range(g.between(1, 4)):
            w.add("web_logs", (self.next("web_logs"), w.ts(g.ago_after(ca, 0.3, 400 * DAY)), a, g.ip(),
                               g.pick(USER_AGENTS), g.pick(PATHS)))
        for _ in range(g.between(1, 3)):
            w.add("analytics_events", (self.next("analytics_events"), w.ts(r() * ca), a, client, g.ip(),
                                       g.pick(PAGES)))
        if r() < 0.35:
            self.newsletter(p.email, a, ca)
        self.visitor(a)

    def transcript(self) -> str:
        g = self.g
        lines = [f"{'gość' if i % 2 == 0 else 'konsultant'}: {g.pick(g.p.sentences)}"
                 for i in range(g.between(2, 6))]
        return "\n".join(lines)

    def newsletter(self, email: str, account: int | None, older: float) -> None:
        g, w = self.g, self.w
        subscribed = g.r() < 0.8
        contact = w.ts(g.ago_after(older, 0.5, 400 * DAY)) if subscribed else None
        w.add("newsletter_subscriptions", (self.next("newsletter_subscriptions"), w.ts(g.r() * older), email,
                                           account, "subscribed" if subscribed else "unsubscribed", contact))

    def visitor(self, a: int) -> None:
        """People without an account: logs, analytics, chats, newsletter, demo sign-ups."""
        g, w, r = self.g, self.w, self.g.r
        w.add("web_logs", (self.next("web_logs"), w.ts(r() * SPAN), None, g.ip(), g.pick(USER_AGENTS),
                           g.pick(PATHS)))
        w.add("analytics_events", (self.next("analytics_events"), w.ts(r() * SPAN), None, g.token(16), g.ip(),
                                   g.pick(PAGES)))
        if r() < 0.15:
            v = g.person(a + 20_000_000)
            w.add("chat_transcripts", (self.next("chat_transcripts"), w.ts(r() * SPAN), None, v.email,
                                       self.transcript()))
        if r() < 0.2:
            self.newsletter(g.person(a + 30_000_000).email, None, SPAN)
        if r() < 0.1:
            d = g.person(a + 40_000_000)
            ago = r() * SPAN
            w.add("demo_accounts", (self.next("demo_accounts"), w.ts(ago), d.email, d.name,
                                    w.ts(ago - 14 * DAY)))


def generate(loader: Loader, users: int, seed: int, run: Run) -> None:
    gen = _Generator(loader, Gen(seed, Pools.build(seed, locale="pl_PL", phone_prefix="+48")))
    for first, last in chunks(users):
        for a in range(first, last + 1):
            gen.account(a, users)
        loader.flush()
        loader.commit()
        run.advance(last, loader.total)


def boundary_rows(loader: Loader, now: datetime) -> None:
    """Rows just inside and just outside each clock of the seed, for a sweep at ``now``.

    At a day and an hour either side of each cutoff (:data:`pledge.platforms.bulk.EDGES`):

    * inactivity (12 months from the last session): per moment an account last signed in
      then, and one that never signed in, created then; each with a billing profile, a
      container, a comment, a survey answer, a ticket, a chat and a log line. The signed-in
      ones paid: payments around the end of the 10-year accounting period, which runs from
      the end of the year of issue (:meth:`Boundary.legal_edges`), plus a recent one;
    * closed accounts (analytics go at closing): accounts closed a day and an hour ago, and
      accounts that close in an hour and in a day (still active), each with recent events;
    * log lines (12 months), visitors' analytics events (24 months) and newsletter sign-ups
      last contacted (12 months) at each moment, and two never contacted, signed up a day
      either side of the cutoff.
    """
    b = Boundary(loader, now)
    day = timedelta(days=1)
    inactive = b.cutoff("P12M")
    for n, (_edge, moment) in enumerate(b.around(inactive)):
        _edge_account(b, f"sesja{n}", created=b.ago(3 * 365 * DAY), last_login=moment, payments=True)
        _edge_account(b, f"bez-logowania{n}", created=moment, last_login=None)
    for n, (edge, moment) in enumerate(b.around(b.now)):
        a = _edge_account(b, f"zamkniete{n}", created=b.ago(2 * 365 * DAY), last_login=b.ago(3 * DAY),
                          closed=moment, status="closed" if edge < 0 else "active")
        for k in range(2):
            b.add("analytics_events", created_at=b.at(b.now - (k + 5) * day), account_id=a,
                  client_id=f"edge{a:08d}c{k}", ip_address=f"198.51.100.{n * 2 + k + 1}", page="/cennik")
    for n, (_edge, moment) in enumerate(b.around(inactive)):
        b.add("web_logs", created_at=b.at(moment), ip_address=f"203.0.113.{n + 1}", user_agent=USER_AGENTS[n],
              path="/")
    for n, (_edge, moment) in enumerate(b.around(b.cutoff("P24M"))):
        b.add("analytics_events", created_at=b.at(moment), client_id=f"edge-visitor-{n}",
              ip_address=f"203.0.113.{20 + n}", page="/")
    for n, (_edge, moment) in enumerate(b.around(b.cutoff("P12M"))):
        b.add("newsletter_subscriptions", created_at=b.at(moment - 90 * day), email=f"edge.biuletyn{n}@example.org",
              status="subscribed", last_contact_at=b.at(moment))
    for n, edge in enumerate((EDGES[0], EDGES[-1])):
        moment = b.cutoff("P12M") + timedelta(seconds=edge)
        b.add("newsletter_subscriptions", created_at=b.at(moment), email=f"edge.bez-kontaktu{n}@example.org",
              status="unsubscribed")


def _edge_account(b: Boundary, label: str, *, created: datetime, last_login: datetime | None,
                  closed: datetime | None = None, status: str = "active", payments: bool = False) -> int:
    a = b.next("accounts")
    seen = last_login or created
    email = f"edge.{label}@example.org"
    b.add("accounts", id=a, created_at=b.at(created), email=email, name=f"Graniczny {label}",
          phone=f"+48600{a:06d}", company=f"Granica {a} Sp. z o.o.", status=status,
          last_login_at=None if last_login is None else b.at(last_login),
          closed_at=None if closed is None else b.at(closed))
    b.add("billing_profiles", created_at=b.at(created), account_id=a, company_name=f"Granica {a} Sp. z o.o.",
          tax_id=f"PL{5_000_000_000 + a}", address="ul. Graniczna 2, 00-002 Warszawa")
    b.add("containers", created_at=b.at(created), account_id=a, domain=f"sst.granica{a}.pl", region=REGIONS[0])
    b.add("comments", created_at=b.at(seen), account_id=a, body="Czy ten komentarz jest na granicy?")
    b.add("survey_answers", created_at=b.at(seen), account_id=a,
          answers=json.dumps({"nps": 7, "rola": "developer"}, ensure_ascii=False))
    b.add("support_tickets", created_at=b.at(seen), account_id=a, subject=SUBJECTS[0], body="Kontener na granicy.")
    b.add("chat_transcripts", created_at=b.at(seen), account_id=a, visitor_email=email,
          transcript="gość: dzień dobry\nkonsultant: dzień dobry")
    b.add("web_logs", created_at=b.at(seen), account_id=a, ip_address="192.0.2.77", user_agent=USER_AGENTS[0],
          path="/logowanie" if last_login else "/rejestracja")
    b.add("analytics_events", created_at=b.at(seen), account_id=a, client_id=f"edge{a:08d}", page="/panel")
    if payments:
        for issued in [*b.legal_edges(10), seen - timedelta(days=30)]:
            pid = b.next("payments")
            b.add("payments", id=pid, created_at=b.at(issued), account_id=a, amount=b.money(PRICES[0]),
                  currency="PLN", issued_at=b.at(issued), invoice_number=f"FV/{pid:07d}",
                  payer_name=f"Granica {a} Sp. z o.o.")
    return a


def record_login(conn: Connection, user_id: int, at: datetime, *, ip_address: str = "127.0.0.1",
                 user_agent: str | None = None) -> None:
    """A sign-in: move ``accounts.last_login_at`` and log the request to ``/logowanie``."""
    conn.execute(update(accounts).where(accounts.c.id == user_id).values(last_login_at=at))
    conn.execute(insert(web_logs).values(account_id=user_id, created_at=at, ip_address=ip_address,
                                         user_agent=user_agent, path="/logowanie"))
