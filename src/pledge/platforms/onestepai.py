"""onestepai: image and face recognition with annotations, an API and organisation accounts.

Organisations are run by admin users who manage their members. Users upload media,
annotate it and get predictions; face tags name the people shown, who are *not* users:
each person is drawn from a pool shared by neighbouring uploaders, so one person
appears in several images of several users. Some users are 13-17 (with and without
parental consent) and a few are under 13, the case the policy says to delete at once.
:func:`boundary_rows` adds rows a day and an hour either side of each clock's cutoff.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Column, Connection, Date, String, Table, Text, insert, update
from sqlalchemy import Numeric as Money

from pledge.platforms.bulk import (
    DAY,
    EDGES,
    SPAN,
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

organisations = Table(
    "organisations", metadata, pk(), created(),
    Column("name", String(200), nullable=False),
    # users.organisation_id points back here, so this key is added after both tables exist.
    fk("admin_user_id", "users.id", nullable=True, ondelete="SET NULL", use_alter=True),
)
users = Table(
    "users", metadata, pk(), created(),
    fk("organisation_id", "organisations.id", nullable=True),
    Column("email", String(255), nullable=False, unique=True, index=True),
    Column("name", String(200), nullable=False),
    Column("phone", String(40), index=True),
    Column("role", String(20), nullable=False),
    Column("birth_date", Date, index=True),
    Column("parental_consent", Boolean),
    Column("status", String(20), nullable=False, index=True),
    stamp("last_login_at"),
    stamp("closed_at"),
)
api_keys = Table(
    "api_keys", metadata, pk(), created(),
    fk("user_id", "users.id"),
    Column("key_hash", String(64), nullable=False, unique=True),
    stamp("last_used_at"),
)
media = Table(
    "media", metadata, pk(), created(),
    fk("user_id", "users.id"),
    Column("filename", String(300), nullable=False),
    stamp("uploaded_at", nullable=False),
    stamp("deleted_at"),
)
annotations_table = Table(  # not "annotations": that name is the __future__ feature
    "annotations", metadata, pk(), created(),
    fk("media_id", "media.id"),
    fk("user_id", "users.id"),
    Column("label", String(100), nullable=False),
)
face_tags = Table(
    "face_tags", metadata, pk(), created(),
    fk("media_id", "media.id"),
    fk("annotation_id", "annotations.id", nullable=True, ondelete="SET NULL"),
    Column("person_name", String(200)),
    Column("person_tag", String(40), nullable=False, index=True),
)
predictions = Table(
    "predictions", metadata, pk(), created(),
    fk("media_id", "media.id"),
    Column("model", String(80), nullable=False),
    Column("result", Text, nullable=False),
)
invoices = Table(
    "invoices", metadata, pk(), created(),
    fk("user_id", "users.id", nullable=True, ondelete="SET NULL"),
    fk("organisation_id", "organisations.id", nullable=True, ondelete="SET NULL"),
    Column("number", String(40), nullable=False, unique=True),
    Column("amount", Money(10, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    stamp("issued_at", nullable=False),
    Column("billing_name", String(200), nullable=False),
)
social_logins = Table(
    "social_logins", metadata, pk(), created(),
    fk("user_id", "users.id"),
    Column("provider", String(20), nullable=False),
    Column("provider_user_id", String(64), nullable=False, index=True),
)
marketing_contacts = Table(
    "marketing_contacts", metadata, pk(), created(),
    fk("user_id", "users.id", nullable=True, ondelete="SET NULL"),
    Column("email", String(255), nullable=False, index=True),
    Column("consent", Boolean, nullable=False),
    stamp("last_contact_at"),
)
api_access_log = Table(
    "api_access_log", metadata, pk(), created(index=True),
    # Web sign-ins are logged here too, without an API key.
    fk("api_key_id", "api_keys.id", nullable=True, ondelete="SET NULL"),
    fk("user_id", "users.id"),
    Column("ip_address", String(45), nullable=False),
    Column("endpoint", String(200), nullable=False),
)
lower_indexes(users.c.email, marketing_contacts.c.email)  # emails are matched case-insensitively

LABELS = ("face", "person", "car", "dog", "logo", "text", "tree", "building")
MODELS = ("face-detect-v3", "object-detect-v5", "ocr-v2", "scene-v1")
ENDPOINTS = ("/v1/detect", "/v1/faces", "/v1/annotate", "/v1/media", "/v1/predictions")
PRICES = (Decimal("19.00"), Decimal("79.00"), Decimal("499.00"))
CHILD_EVERY = 251  # one user in this many is under 13
MINOR_EVERY = 29  # one in this many is 13-17


class _Generator:
    def __init__(self, loader: Loader, gen: Gen, users: int) -> None:
        self.w = loader
        self.g = gen
        self.ids = dict.fromkeys(metadata.tables, 0)
        self.prices: tuple[Any, ...] = (
            tuple(str(p) for p in PRICES) if loader.dialect == "sqlite" else PRICES)
        # People shown in images: about one per five users, never users themselves.
        self.people = [gen.person(i) for i in range(max(12, users // 5))]
        self.org: tuple[int, float, int] | None = None  # (id, created ago, members left)
        self.admins: list[tuple[int, int]] = []  # (organisation id, admin user id), set after users land

    def next(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def user(self, u: int, n: int) -> None:
        g, w, r = self.g, self.w, self.g.r
        ca = max(DAY, SPAN * (1 - (u - 1) / max(n, 1)) - r() * DAY)
        p = g.person(u)
        org_id, role = None, "member"
        if self.org is not None and self.org[2] > 0 and r() < 0.6:
            org_id = self.org[0]
            self.org = (org_id, self.org[1], self.org[2] - 1)
            role = "admin" if r() < 0.08 else "member"
        elif r() < 0.06:
            org_id = self.next("organisations")
            w.add("organisations", (org_id, w.ts(ca), g.pick(g.p.companies), None))
            self.org, role = (org_id, ca, g.between(2, 12)), "admin"
            if r() < 0.95:  # a few organisations have lost their admin
                self.admins.append((u, org_id))
        if u % CHILD_EVERY == 11:
            age, consent = 8 + r() * 4.9, None
        elif u % MINOR_EVERY == 3:
            age, consent = 13 + r() * 4.9, r() < 0.6
        else:
            age, consent = 18.1 + r() * 50, None
        last_login = g.ago_after(ca, recent_share=0.5)
        status, closed = "active", None
        if r() < 0.05:
            status, closed = "closed", g.ago_after(last_login, 0.4, 120 * DAY)
        w.add("users", (u, w.ts(ca), org_id, p.email, p.name, g.phone() if r() < 0.4 else None, role,
                        w.day(g.birth_age(age)), consent, status, w.ts(last_login),
                        None if closed is None else w.ts(closed)))
        if r() < 0.3:
            w.add("social_logins", (self.next("social_logins"), w.ts(ca), u, g.pick(("google", "github")),
                                    str(g.rng.getrandbits(60))))
        keys = []
        for _ in range(int(r() * 2.4)):
            kid = self.next("api_keys")
            keys.append(kid)
            w.add("api_keys", (kid, w.ts(r() * ca), u, g.token(64), w.ts(g.ago_after(ca, 0.4))))
        for _ in range(g.between(0, 4)):
            self.medium(u, ca)
        for k in keys:
            for _ in range(g.between(1, 3)):
                w.add("api_access_log", (self.next("api_access_log"), w.ts(g.ago_after(ca, 0.3, 400 * DAY)), k,
                                         u, g.ip(), g.pick(ENDPOINTS)))
        w.add("api_access_log", (self.next("api_access_log"), w.ts(last_login), None, u, g.ip(), "/login"))
        if r() < 0.3 or (org_id and role == "admin"):
            self.invoices(u, org_id, p.name, ca)
        if r() < 0.3:
            consent_m = r() < 0.7
            w.add("marketing_contacts", (self.next("marketing_contacts"), w.ts(ca), u, p.email, consent_m,
                                         w.ts(g.ago_after(ca, 0.5, 400 * DAY)) if consent_m else None))
        if r() < 0.1:  # a lead who never signed up
            lead = g.person(u + 50_000_000)
            w.add("marketing_contacts", (self.next("marketing_contacts"), w.ts(r() * SPAN), None, lead.email,
                                         True, w.ts(g.ago_after(SPAN, 0.5, 400 * DAY))))

    def medium(self, u: int, ca: float) -> None:
        g, w, r = self.g, self.w, self.g.r
        mid, ago = self.next("media"), r() * ca
        deleted = w.ts(g.ago_after(ago, 0.5, 60 * DAY)) if r() < 0.08 else None
        w.add("media", (mid, w.ts(ago), u, f"IMG_{g.between(1000, 9999)}.jpg", w.ts(ago), deleted))
        w.add("predictions", (self.next("predictions"), w.ts(ago), mid, g.pick(MODELS),
                              json.dumps({"label": g.pick(LABELS), "score": round(0.5 + r() / 2, 3)})))
        face_annotation = None
        for _ in range(g.between(0, 2)):
            aid = self.next("annotations")
            label = g.pick(LABELS)
            if label == "face":
                face_annotation = aid
            w.add("annotations", (aid, w.ts(ago), mid, u, label))
        # Neighbouring uploaders share people, so one person is in several users' images.
        centre = int(u / 5)
        for _ in range(int(r() * 3)):
            i = (centre + g.between(-6, 6)) % len(self.people)
            person = self.people[i]
            w.add("face_tags", (self.next("face_tags"), w.ts(ago), mid,
                                face_annotation if r() < 0.5 else None,
                                person.name if r() < 0.8 else None, f"pt-{i:07d}"))

    def invoices(self, u: int, org: int | None, name: str, ca: float) -> None:
        g, w = self.g, self.w
        start, price = g.r() * ca, g.pick(self.prices)
        for k in range(g.between(1, 10)):
            at = start - k * 30 * DAY
            if at < 0:
                break
            iid = self.next("invoices")
            w.add("invoices", (iid, w.ts(at), u, org, f"OS-{iid:08d}", price, "USD", w.ts(at), name))

    def set_admins(self) -> None:
        """Organisations name their admin once the admin's user row exists."""
        self.w.execute_many("UPDATE organisations SET admin_user_id = ? WHERE id = ?", self.admins)
        self.admins = []


def generate(loader: Loader, users: int, seed: int, run: Run) -> None:
    gen = _Generator(loader, Gen(seed, Pools.build(seed)), users)
    for first, last in chunks(users):
        for u in range(first, last + 1):
            gen.user(u, users)
        loader.flush()
        gen.set_admins()
        loader.commit()
        run.advance(last, loader.total)


def boundary_rows(loader: Loader, now: datetime) -> None:
    """Rows just inside and just outside each clock of the policy, for a sweep at ``now``.

    The seed only says "a reasonable period"; the example configures 6 months after
    closing, 24 months after the last marketing contact and 13 months for the API log.
    At a day and an hour either side of each cutoff (:data:`pledge.platforms.bulk.EDGES`):

    * per moment an individual account closed then, with an upload (prediction,
      annotation, face tag), an API key and its log, a social login, a marketing contact
      and invoices around the end of the 5-year tax period, which runs from the end of the
      year of issue (:meth:`Boundary.legal_edges`), plus a recent one;
    * per moment a member of one organisation closed then, with an upload and a log line;
    * API log lines of the organisation's active admin, marketing leads last contacted,
      and two leads never contacted, signed up a day either side of the cutoff.
    """
    b = Boundary(loader, now)
    day = timedelta(days=1)
    org = b.add("organisations", created_at=b.at(b.ago(4 * 365 * DAY)), name="Boundary Vision Sp. z o.o.")
    admin = _edge_user(b, "admin", org=org, role="admin", created=b.ago(4 * 365 * DAY), last_login=b.ago(DAY))
    for n, (_edge, moment) in enumerate(b.around(b.cutoff("P6M"))):
        created = datetime(b.now.year - 7, 3, 1, tzinfo=moment.tzinfo)
        uid = _edge_user(b, f"closed{n}", created=created, last_login=moment - day, closed=moment)
        _edge_medium(b, uid, moment - 40 * day)
        key = b.add("api_keys", created_at=b.at(created), user_id=uid, key_hash=f"{uid:064x}",
                    last_used_at=b.at(moment - 2 * day))
        b.add("api_access_log", created_at=b.at(moment - 2 * day), api_key_id=key, user_id=uid,
              ip_address=f"192.0.2.{n + 1}", endpoint=ENDPOINTS[0])
        b.add("social_logins", created_at=b.at(created), user_id=uid, provider="github",
              provider_user_id=f"edge{uid}")
        b.add("marketing_contacts", created_at=b.at(created), user_id=uid, email=f"edge.closed{n}@example.org",
              consent=True, last_contact_at=b.at(moment - 10 * day))
        for issued in [*b.legal_edges(5), moment - 10 * day]:
            iid = b.next("invoices")
            b.add("invoices", id=iid, created_at=b.at(issued), user_id=uid, number=f"OS-{iid:08d}",
                  amount=b.money(PRICES[0]), currency="USD", issued_at=b.at(issued), billing_name=f"Boundary {n}")
        member = _edge_user(b, f"member{n}", org=org, created=created, last_login=moment - day, closed=moment)
        _edge_medium(b, member, moment - 40 * day)
        b.add("api_access_log", created_at=b.at(moment - 2 * day), user_id=member,
              ip_address=f"192.0.2.{n + 11}", endpoint="/login")
    for n, (_edge, moment) in enumerate(b.around(b.cutoff("P13M"))):
        b.add("api_access_log", created_at=b.at(moment), user_id=admin, ip_address=f"192.0.2.{n + 21}",
              endpoint=ENDPOINTS[n % len(ENDPOINTS)])
    marketing = b.cutoff("P24M")
    for n, (_edge, moment) in enumerate(b.around(marketing)):
        b.add("marketing_contacts", created_at=b.at(moment - 30 * day), email=f"edge.lead{n}@example.org",
              consent=True, last_contact_at=b.at(moment))
    for n, edge in enumerate((EDGES[0], EDGES[-1])):
        b.add("marketing_contacts", created_at=b.at(marketing + timedelta(seconds=edge)),
              email=f"edge.quiet{n}@example.org", consent=False)
    b.w.flush()  # the organisation names its admin once the admin's row exists
    b.w.execute_many("UPDATE organisations SET admin_user_id = ? WHERE id = ?", [(admin, org)])


def _edge_user(b: Boundary, label: str, *, created: datetime, last_login: datetime, org: int | None = None,
               role: str = "member", closed: datetime | None = None) -> int:
    return b.add("users", created_at=b.at(created), organisation_id=org, email=f"edge.{label}@example.org",
                 name=f"Boundary {label.title()}", phone=f"+1555{b.ids['users'] + 1:07d}", role=role,
                 birth_date=b.w.on(date(1985, 3, 3)), status="closed" if closed else "active",
                 last_login_at=b.at(last_login), closed_at=None if closed is None else b.at(closed))


def _edge_medium(b: Boundary, uid: int, at: datetime) -> None:
    mid = b.add("media", created_at=b.at(at), user_id=uid, filename=f"IMG_{uid}.jpg", uploaded_at=b.at(at))
    b.add("predictions", created_at=b.at(at), media_id=mid, model=MODELS[0],
          result=json.dumps({"label": "face", "score": 0.9}))
    ann = b.add("annotations", created_at=b.at(at), media_id=mid, user_id=uid, label="face")
    b.add("face_tags", created_at=b.at(at), media_id=mid, annotation_id=ann, person_name="Jan Kowalski",
          person_tag=f"pt-edge{uid}")


def record_login(conn: Connection, user_id: int, at: datetime, *, ip_address: str = "127.0.0.1",
                 user_agent: str | None = None) -> None:
    """A sign-in: move ``users.last_login_at`` and log it in ``api_access_log`` (no key)."""
    conn.execute(update(users).where(users.c.id == user_id).values(last_login_at=at))
    conn.execute(insert(api_access_log).values(api_key_id=None, user_id=user_id, created_at=at,
                                               ip_address=ip_address, endpoint="/login"))
