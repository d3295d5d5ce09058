"""omni-one: a multi-model AI chat with team workspaces, projects, personas and files.

Every user has a personal workspace; about one in eight also runs a team workspace
shared with several recent sign-ups, whose conversations hold messages from other
members. Paying users (a Stripe customer id) get monthly invoices. A share of
conversations, projects and accounts are deleted or closed, at times spread so that the
30/30/90-day clocks and the 5-year tax period each have rows on both sides.
:func:`boundary_rows` adds rows a day and an hour either side of each clock's cutoff.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    insert,
    update,
)

from pledge.platforms.bulk import (
    DAY,
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

users = Table(
    "users", metadata, pk(), created(),
    Column("email", String(255), nullable=False, unique=True, index=True),
    Column("name", String(200), nullable=False),
    Column("birth_date", Date),
    Column("status", String(20), nullable=False, index=True),
    stamp("last_login_at"),
    stamp("closed_at"),
    Column("stripe_customer_id", String(40), index=True),
)
workspaces = Table(
    "workspaces", metadata, pk(), created(),
    fk("owner_id", "users.id", nullable=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    stamp("deleted_at"),
)
memberships = Table(
    "memberships", metadata, pk(), created(),
    fk("workspace_id", "workspaces.id"),
    fk("user_id", "users.id"),
    Column("role", String(20), nullable=False),
)
invitations = Table(
    "invitations", metadata, pk(), created(),
    fk("workspace_id", "workspaces.id"),
    fk("invited_by", "users.id"),
    Column("email", String(255), nullable=False, index=True),
    Column("status", String(20), nullable=False),
)
projects = Table(
    "projects", metadata, pk(), created(),
    fk("workspace_id", "workspaces.id"),
    fk("owner_id", "users.id"),
    Column("name", String(200), nullable=False),
    stamp("deleted_at"),
)
personas = Table(
    "personas", metadata, pk(), created(),
    fk("owner_id", "users.id"),
    Column("name", String(100), nullable=False),
    Column("prompt", Text, nullable=False),
)
conversations = Table(
    "conversations", metadata, pk(), created(),
    fk("user_id", "users.id"),
    fk("workspace_id", "workspaces.id"),
    fk("project_id", "projects.id", nullable=True, ondelete="SET NULL"),
    Column("title", String(300), nullable=False),
    stamp("deleted_at"),
)
messages = Table(
    "messages", metadata, pk(), created(),
    fk("conversation_id", "conversations.id"),
    fk("author_id", "users.id", nullable=True, ondelete="SET NULL"),
    Column("role", String(20), nullable=False),
    Column("content", Text, nullable=False),
)
files = Table(
    "files", metadata, pk(), created(),
    fk("conversation_id", "conversations.id", nullable=True, ondelete="SET NULL"),
    fk("project_id", "projects.id", nullable=True, ondelete="SET NULL"),
    fk("owner_id", "users.id"),
    Column("filename", String(300), nullable=False),
    Column("size", Integer, nullable=False),
)
token_usage = Table(
    "token_usage", metadata, pk(), created(index=True),
    fk("user_id", "users.id"),
    fk("conversation_id", "conversations.id", nullable=True, ondelete="SET NULL"),
    Column("model", String(80), nullable=False),
    Column("tokens", Integer, nullable=False),
)
invoices = Table(
    "invoices", metadata, pk(), created(),
    fk("user_id", "users.id", nullable=True, ondelete="SET NULL"),
    Column("number", String(40), nullable=False, unique=True),
    Column("amount", Numeric(10, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    stamp("issued_at", nullable=False),
    Column("billing_name", String(200), nullable=False),
    Column("billing_address", String(400)),
    Column("tax_id", String(40)),
)
marketing_preferences = Table(
    "marketing_preferences", metadata, pk(), created(),
    fk("user_id", "users.id"),
    Column("email_opt_in", Boolean, nullable=False),
    Column("tracking_opt_in", Boolean, nullable=False),
    stamp("last_contact_at"),
)
login_sessions = Table(
    "login_sessions", metadata, pk(), created(),
    fk("user_id", "users.id"),
    Column("ip_address", String(45), nullable=False),
    Column("user_agent", String(300)),
    stamp("last_seen_at"),
)
devices = Table(
    "devices", metadata, pk(), created(),
    fk("user_id", "users.id"),
    Column("device_id", String(64), nullable=False, index=True),
    Column("platform", String(20), nullable=False),
)
analytics_events = Table(
    "analytics_events", metadata, pk(), created(index=True),
    fk("user_id", "users.id", nullable=True, ondelete="SET NULL"),
    Column("session_id", String(64), nullable=False),
    Column("ip_address", String(45)),
    Column("event", String(60), nullable=False),
    Column("page", String(200)),
)
lower_indexes(users.c.email, invitations.c.email)  # emails are matched case-insensitively

MODELS = ("openai/gpt-4o", "anthropic/claude-3.5-sonnet", "google/gemini-1.5-pro",
          "meta-llama/llama-3.1-70b", "mistralai/mistral-large", "deepseek/deepseek-chat")
PERSONAS = ("Tutor", "Copy editor", "SQL helper", "Travel planner", "Code reviewer", "Translator",
            "Legal drafter", "Coach")
EXTENSIONS = (".pdf", ".png", ".docx", ".csv", ".txt", ".xlsx", ".md", ".jpg")
EVENTS = ("page_view", "signup_click", "model_switch", "upgrade_view", "share_link", "export")
PAGES = ("/", "/pricing", "/chat", "/settings", "/projects", "/workspace", "/docs", "/blog")
PRICES = (Decimal("20.00"), Decimal("25.00"), Decimal("200.00"), Decimal("240.00"))
MINOR_EVERY = 173  # about one user in this many says they are 14-17: the "found child" case


class _Generator:
    def __init__(self, loader: Loader, gen: Gen) -> None:
        self.w = loader
        self.g = gen
        self.ids = dict.fromkeys(metadata.tables, 0)
        self.recent: list[tuple[int, float]] = []  # (user id, created seconds ago)
        sqlite = loader.dialect == "sqlite"
        self.prices: tuple[Any, ...] = tuple(str(p) for p in PRICES) if sqlite else PRICES

    def next(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def user(self, u: int, n: int) -> None:
        g, w, r = self.g, self.w, self.g.r
        # Ids follow sign-up order: user 1 joined six years ago, the last one yesterday.
        ca = max(DAY, SPAN * (1 - (u - 1) / max(n, 1)) - r() * DAY)
        p = g.person(u)
        age = 14 + r() * 3.9 if u % MINOR_EVERY == 7 else 18.2 + r() * 50
        status = "active"
        last_login = g.ago_after(ca, recent_share=0.55)
        closed = None
        if r() < 0.06:
            status, closed = "closed", g.ago_after(last_login, recent_share=0.4, recent=120 * DAY)
        elif r() < 0.01:
            status = "suspended"
        paying = r() < 0.35
        stripe = f"cus_{g.token(14)}" if paying else None
        w.add("users", (u, w.ts(ca), p.email, p.name, w.day(g.birth_age(age)), status,
                        w.ts(last_login), None if closed is None else w.ts(closed), stripe))

        ws = self.next("workspaces")
        w.add("workspaces", (ws, w.ts(ca), u, f"{p.first}'s workspace", "personal", None))
        w.add("memberships", (self.next("memberships"), w.ts(ca), ws, u, "owner"))

        own_projects = [self.project(ws, u, ca) for _ in range(int(r() * r() * 3))]
        for _ in range(g.between(0, 5)):
            proj = g.pick(own_projects) if own_projects and r() < 0.3 else None
            self.conversation(u, ws, proj, ca, [u])
        for proj_id, proj_ago in own_projects:
            for _ in range(int(r() * 2.5)):
                w.add("files", (self.next("files"), w.ts(r() * proj_ago), None, proj_id, u,
                                f"{g.pick(g.p.words)}{g.pick(EXTENSIONS)}", g.between(2_000, 40_000_000)))
        if r() < 0.25:
            for _ in range(g.between(1, 2)):
                w.add("personas", (self.next("personas"), w.ts(r() * ca), u, g.pick(PERSONAS),
                                   g.pick(g.p.sentences)))
        if r() < 0.12 and len(self.recent) >= 3:
            self.team(u, p.last, ca)

        if paying:
            self.invoices(u, p.name, ca)
        email_in, track_in = r() < 0.4, r() < 0.3
        contact = w.ts(g.ago_after(ca, 0.5, 400 * DAY)) if email_in else None
        w.add("marketing_preferences", (self.next("marketing_preferences"), w.ts(ca), u, email_in, track_in,
                                        contact))
        self.sessions(u, ca, last_login)
        for _ in range(g.between(1, 2)):
            w.add("devices", (self.next("devices"), w.ts(r() * ca), u, g.token(16),
                              g.pick(("web", "ios", "android", "desktop"))))
        session = g.token(16)
        for _ in range(g.between(1, 4)):
            w.add("analytics_events", (self.next("analytics_events"), w.ts(r() * ca), u, session, g.ip(),
                                       g.pick(EVENTS), g.pick(PAGES)))
        if r() < 0.8:  # a visitor who never signed in
            w.add("analytics_events", (self.next("analytics_events"), w.ts(r() * SPAN), None, g.token(16),
                                       g.ip(), "page_view", g.pick(PAGES)))
        self.recent.append((u, ca))
        if len(self.recent) > 400:
            del self.recent[:100]

    def project(self, ws: int, owner: int, older: float) -> tuple[int, float]:
        g, w = self.g, self.w
        pid, ago = self.next("projects"), g.r() * older
        deleted = w.ts(g.ago_after(ago, 0.5, 60 * DAY)) if g.r() < 0.08 else None
        w.add("projects", (pid, w.ts(ago), ws, owner, f"{g.pick(g.p.words).title()} {g.pick(g.p.words)}",
                           deleted))
        return pid, ago

    def conversation(self, user: int, ws: int, project: tuple[int, float] | None, older: float,
                     authors: list[int]) -> None:
        g, w, r = self.g, self.w, self.g.r
        cid = self.next("conversations")
        ago = r() * (project[1] if project else older)
        deleted = w.ts(g.ago_after(ago, 0.5, 60 * DAY)) if r() < 0.1 else None
        w.add("conversations", (cid, w.ts(ago), user, ws, project[0] if project else None,
                                g.pick(g.p.sentences)[:80], deleted))
        for i in range(g.between(2, 6)):
            at = w.ts(max(0.0, ago - i * 41))
            if i % 2 == 0:
                author = g.pick(authors) if len(authors) > 1 else user
                w.add("messages", (self.next("messages"), at, cid, author, "user", g.pick(g.p.sentences)))
            else:
                w.add("messages", (self.next("messages"), at, cid, None, "assistant", g.pick(g.p.paragraphs)))
        w.add("token_usage", (self.next("token_usage"), w.ts(ago), user, cid, g.pick(MODELS),
                              g.between(150, 24_000)))
        if r() < 0.2:
            w.add("files", (self.next("files"), w.ts(ago), cid, None, user,
                            f"{g.pick(g.p.words)}{g.pick(EXTENSIONS)}", g.between(2_000, 40_000_000)))

    def team(self, owner: int, surname: str, ca: float) -> None:
        """A workspace shared with recent sign-ups; its conversations mix members' messages."""
        g, w, r = self.g, self.w, self.g.r
        ws, ago = self.next("workspaces"), r() * ca
        deleted = w.ts(g.ago_after(ago, 0.5, 60 * DAY)) if r() < 0.03 else None
        w.add("workspaces", (ws, w.ts(ago), owner, f"{surname} {g.pick(('Labs', 'Team', 'Studio', 'Group'))}",
                             "team", deleted))
        others = [m for m, _ in g.rng.sample(self.recent, min(len(self.recent), g.between(2, 7)))]
        members = [owner, *others]
        w.add("memberships", (self.next("memberships"), w.ts(ago), ws, owner, "owner"))
        for m in others:
            w.add("memberships", (self.next("memberships"), w.ts(r() * ago), ws, m,
                                  "admin" if r() < 0.15 else "member"))
        for _ in range(g.between(0, 3)):
            guest = g.person(self.ids["invitations"] + 10_000_000)
            w.add("invitations", (self.next("invitations"), w.ts(r() * ago), ws, owner, guest.email,
                                  g.pick(("pending", "accepted", "expired"))))
        team_projects = [self.project(ws, g.pick(members), ago) for _ in range(g.between(0, 2))]
        for _ in range(g.between(2, 5)):
            proj = g.pick(team_projects) if team_projects and r() < 0.5 else None
            self.conversation(g.pick(members), ws, proj, ago, members)

    def invoices(self, u: int, name: str, ca: float) -> None:
        g, w, r = self.g, self.w, self.g.r
        start = r() * ca
        company = g.pick(g.p.companies) if r() < 0.3 else None
        tax_id = f"PL{g.between(1_000_000_000, 9_999_999_999)}" if company else None
        address = g.pick(g.p.addresses)
        price = g.pick(self.prices)
        for k in range(g.between(1, 12)):
            at = start - k * 30 * DAY
            if at < 0:
                break
            iid = self.next("invoices")
            w.add("invoices", (iid, w.ts(at), u, f"OO-{iid:08d}", price, "EUR", w.ts(at),
                               company or name, address, tax_id))

    def sessions(self, u: int, ca: float, last_login: float) -> None:
        g, w = self.g, self.w
        for k in range(g.between(0, 2)):
            at = last_login + g.r() * (ca - last_login) if k else ca
            w.add("login_sessions", (self.next("login_sessions"), w.ts(at), u, g.ip(), g.pick(USER_AGENTS),
                                     w.ts(at)))
        # The newest session is the last login: issue #6 reads "the last session" from here.
        w.add("login_sessions", (self.next("login_sessions"), w.ts(last_login), u, g.ip(), g.pick(USER_AGENTS),
                                 w.ts(last_login)))


def generate(loader: Loader, users: int, seed: int, run: Run) -> None:
    gen = _Generator(loader, Gen(seed, Pools.build(seed)))
    for first, last in chunks(users):
        for u in range(first, last + 1):
            gen.user(u, users)
        loader.flush()
        loader.commit()
        run.advance(last, loader.total)


def boundary_rows(loader: Loader, now: datetime) -> None:
    """Rows just inside and just outside each clock of the seed, for a sweep at ``now``.

    At a day and an hour either side of each cutoff (:data:`pledge.platforms.bulk.EDGES`):

    * deleted conversations and projects (30 days): per moment an active user with a
      conversation deleted then, and a project deleted then that still holds live
      conversations (with messages and usage), a conversation deleted only last week, and
      a file: the deleted container with live children;
    * closed accounts (90 days): per moment an account closed then, with a workspace, a
      conversation, analytics events, a session, a device, marketing preferences and
      invoices around the end of the 5-year tax period, which runs from the end of the
      year of issue (:meth:`Boundary.legal_edges`), plus a recent one.
    """
    b = Boundary(loader, now)
    day = timedelta(days=1)
    for n, (_edge, moment) in enumerate(b.around(b.cutoff("P30D"))):
        uid = _edge_user(b, f"deleter{n}", created=b.ago(400 * DAY), last_login=b.ago(DAY))
        ws = _edge_workspace(b, uid, b.ago(400 * DAY))
        _edge_conversation(b, uid, ws, None, moment - 20 * day, moment)
        pid = b.add("projects", created_at=b.at(moment - 60 * day), workspace_id=ws, owner_id=uid,
                    name=f"Boundary project {n}", deleted_at=b.at(moment))
        for _ in range(2):
            _edge_conversation(b, uid, ws, pid, moment - 10 * day, None)
        _edge_conversation(b, uid, ws, pid, moment - 10 * day, b.now - 7 * day)
        b.add("files", created_at=b.at(moment - 10 * day), project_id=pid, owner_id=uid,
              filename=f"brief{n}.pdf", size=120_000)
    for n, (_edge, moment) in enumerate(b.around(b.cutoff("P90D"))):
        created = datetime(b.now.year - 7, 3, 1, tzinfo=moment.tzinfo)
        uid = _edge_user(b, f"closed{n}", created=created, last_login=moment - day, closed=moment)
        ws = _edge_workspace(b, uid, created)
        _edge_conversation(b, uid, ws, None, moment - 30 * day, None)
        for k in range(2):
            b.add("analytics_events", created_at=b.at(moment - (k + 2) * day), user_id=uid,
                  session_id=f"edge{uid:08d}s{k}", ip_address=f"192.0.2.{n * 2 + k + 1}", event="page_view",
                  page="/chat")
        b.add("login_sessions", created_at=b.at(moment - day), user_id=uid, ip_address=f"192.0.2.{100 + n}",
              user_agent=USER_AGENTS[n], last_seen_at=b.at(moment - day))
        b.add("devices", created_at=b.at(created), user_id=uid, device_id=f"edge-device-{uid}", platform="web")
        b.add("marketing_preferences", created_at=b.at(created), user_id=uid, email_opt_in=True,
              tracking_opt_in=False, last_contact_at=b.at(moment - 5 * day))
        for issued in [*b.legal_edges(5), moment - 10 * day]:
            iid = b.next("invoices")
            b.add("invoices", id=iid, created_at=b.at(issued), user_id=uid, number=f"OO-{iid:08d}",
                  amount=b.money(PRICES[0]), currency="EUR", issued_at=b.at(issued),
                  billing_name=f"Boundary Closed {n}", billing_address="ul. Graniczna 1, 00-001 Warszawa")


def _edge_user(b: Boundary, label: str, *, created: datetime, last_login: datetime,
               closed: datetime | None = None) -> int:
    uid = b.next("users")
    b.add("users", id=uid, created_at=b.at(created), email=f"edge.{label}@example.org",
          name=f"Boundary {label.title()}", birth_date=b.w.on(date(1990, 5, 17)),
          status="closed" if closed else "active", last_login_at=b.at(last_login),
          closed_at=None if closed is None else b.at(closed), stripe_customer_id=f"cus_edge{uid:010d}")
    return uid


def _edge_workspace(b: Boundary, uid: int, created: datetime) -> int:
    ws = b.add("workspaces", created_at=b.at(created), owner_id=uid, name="Boundary workspace", kind="personal")
    b.add("memberships", created_at=b.at(created), workspace_id=ws, user_id=uid, role="owner")
    return ws


def _edge_conversation(b: Boundary, uid: int, ws: int, project: int | None, created: datetime,
                       deleted: datetime | None) -> int:
    cid = b.next("conversations")
    b.add("conversations", id=cid, created_at=b.at(created), user_id=uid, workspace_id=ws, project_id=project,
          title=f"Boundary conversation {cid}", deleted_at=None if deleted is None else b.at(deleted))
    b.add("messages", created_at=b.at(created), conversation_id=cid, author_id=uid, role="user",
          content="Where does this conversation sit?")
    b.add("messages", created_at=b.at(created), conversation_id=cid, role="assistant",
          content="Right next to a retention cutoff.")
    b.add("token_usage", created_at=b.at(created), user_id=uid, conversation_id=cid, model=MODELS[0], tokens=321)
    return cid


def record_login(conn: Connection, user_id: int, at: datetime, *, ip_address: str = "127.0.0.1",
                 user_agent: str | None = None) -> None:
    """A sign-in: move ``users.last_login_at`` and open a login session."""
    conn.execute(update(users).where(users.c.id == user_id).values(last_login_at=at))
    conn.execute(insert(login_sessions).values(user_id=user_id, created_at=at, ip_address=ip_address,
                                               user_agent=user_agent, last_seen_at=at))
