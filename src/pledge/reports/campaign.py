"""Notification campaigns: telling the affected people about a change before it applies.

A campaign is started by a material notice change (``policy_change``) or by an event the
policy promises to announce (``business_transfer``). It never applies sooner than the
policy's notice period allows (omni-one: 30 days). At send time the addresses are read
from the platform through the data map's ``email`` identity fields, limited to the
collections that hold the categories the change touches; each person gets one email,
ever (a re-run sends nothing twice). Where re-consent is needed the email carries a
signed link; :meth:`Campaigns.accept` records the acceptance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from babel.dates import format_date
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, insert, select, update

from pledge.context import Context
from pledge.dataplane import selection
from pledge.dataplane.selection import All, AnyOf, Cmp, IsNull, Not, Pred
from pledge.errors import InvalidInput
from pledge.i18n import translator
from pledge.notify import EmailTemplate, Notifier, Outcome
from pledge.reports.changes import EVERYONE, PolicyDiff
from pledge.reports.links import any_related
from pledge.store.tables.reports import campaign_recipients, notice_campaigns

KINDS = ("policy_change", "business_transfer")


def N_(text: str) -> str:
    return text


POLICY_CHANGE = EmailTemplate(
    "notice.policy_change",
    N_("{controller}: changes to how we process your personal data"),
    N_("Hello,\n\nWe are changing how {controller} processes your personal data. The new privacy notice "
       "(version {version}) applies from {date}.\n\nWhat changes:\n{changes}\n\nRead the full notice: {url}\n"
       "{reconsent}\nIf you do not agree with the changes, you can close your account before {date}.\n\n"
       "{controller}"),
    ("notice",),
)
BUSINESS_TRANSFER = EmailTemplate(
    "notice.business_transfer",
    N_("{controller}: your personal data are moving to {acquirer}"),
    N_("Hello,\n\n{controller} is being transferred to {acquirer} as part of a merger, acquisition or sale "
       "of assets. From {date}, {acquirer} will be the controller of your personal data and will process "
       "them under its own privacy notice.\n\nAfter that date you can contact {acquirer} about your data at "
       "{contact}. If you do not want your data to be transferred, you can close your account before "
       "{date}.\n\nOur current privacy notice: {url}\n{reconsent}\n{controller}"),
    ("notice",),
)
RECONSENT = N_("\nSome of these changes need your consent. To accept them, open this link: {link}\n"
               "Until you accept, we will not apply them to your data.\n")
#: A line of the email for each kind of material change (section of the policy).
CHANGE_LINES = {
    "purposes": N_("- new or changed purposes of processing, or their legal basis"),
    "categories": N_("- new categories of personal data"),
    "recipients": N_("- new recipients of your data, or transfers to new countries"),
    "retention": N_("- changed periods for which we keep your data"),
    "exemptions": N_("- changed periods for which the law makes us keep your data"),
    "cookies": N_("- changes to cookies and similar technologies"),
    "subjects": N_("- new groups of people whose data we process"),
    "rights": N_("- changes to how you can exercise your rights"),
    "controller": N_("- a change of the controller of your data"),
}
OTHER_CHANGES = N_("- other changes described in the notice")


class CampaignError(InvalidInput):
    """A campaign that cannot start or send as asked."""


@dataclass
class Campaign:
    id: int
    kind: str
    created_at: datetime
    effective_at: datetime
    reconsent: bool
    lang: str
    status: str
    categories: list[str]
    details: dict[str, Any]


def _aware(moment: datetime, like: datetime) -> datetime:
    """SQLite returns naive datetimes; compare them as the engine clock's zone."""
    if moment.tzinfo is None and like.tzinfo is not None:
        return moment.replace(tzinfo=like.tzinfo)
    return moment


class Campaigns:
    def __init__(self, engine: Context, notifier: Notifier | None = None) -> None:
        self.engine = engine
        self.notifier = notifier or Notifier(engine)
        self._signer = URLSafeSerializer(engine.keys.signers, salt="pledge.notice.accept")

    # -- starting ---------------------------------------------------------------------------
    def earliest_effective(self, start: datetime | None = None) -> datetime:
        start = start or self.engine.now()
        period = self.engine.policy.changes.notice_period
        return period.after(start) if period is not None else start

    def start(self, kind: str, *, effective_at: datetime | None = None, categories: list[str] | None = None,
              reconsent: bool = False, details: dict[str, Any] | None = None, version_id: int | None = None,
              lang: str | None = None) -> int:
        if kind not in KINDS:
            raise CampaignError(f"unknown campaign kind {kind!r}; use one of {', '.join(KINDS)}")
        now = self.engine.now()
        earliest = self.earliest_effective(now)
        effective_at = effective_at or earliest
        if effective_at.tzinfo is None and now.tzinfo is not None:
            effective_at = effective_at.replace(tzinfo=now.tzinfo)
        if effective_at < earliest - timedelta(seconds=1):
            period = self.engine.policy.changes.notice_period
            raise CampaignError(
                f"the change would apply on {effective_at.date()}, but the policy promises {period} notice: "
                f"the earliest date is {earliest.date()}")
        details = dict(details or {})
        if kind == "business_transfer" and not details.get("acquirer"):
            raise CampaignError("a business transfer notice needs the acquirer's name (--acquirer)")
        with self.engine.store.begin() as conn:
            res = conn.execute(insert(notice_campaigns).values(
                kind=kind, notice_version_id=version_id, created_at=now, effective_at=effective_at,
                reconsent=reconsent, lang=lang or self.engine.policy.language, status="open",
                categories=categories or [EVERYONE], details=details,
            ))
            assert res.inserted_primary_key is not None
            cid = int(res.inserted_primary_key[0])
            self.engine.audit.record("notice.campaign.started", target=f"campaign:{cid}",
                                     details={"kind": kind, "effective_at": effective_at.isoformat(),
                                              "reconsent": reconsent, "categories": categories or [EVERYONE]},
                                     conn=conn)
        return cid

    def start_for_change(self, diff: PolicyDiff, version_id: int | None = None,
                         effective_at: datetime | None = None) -> int:
        """The campaign a material policy change starts."""
        if not diff.is_material:
            raise CampaignError("the change is not material; no campaign is needed")
        reconsent = diff.reconsent or self.engine.policy.changes.material_reconsent
        sections = sorted({c.section for c in diff.material})
        return self.start("policy_change", effective_at=effective_at, categories=sorted(diff.categories),
                          reconsent=reconsent, version_id=version_id,
                          details={"version": diff.new_version, "sections": sections,
                                   "changes": [c.summary for c in diff.material]})

    def get(self, campaign_id: int) -> Campaign:
        with self.engine.store.connect() as conn:
            row = conn.execute(select(notice_campaigns).where(notice_campaigns.c.id == campaign_id)).first()
        if row is None:
            raise CampaignError(f"no campaign {campaign_id}")
        m = row._mapping
        return Campaign(m["id"], m["kind"], m["created_at"], m["effective_at"], bool(m["reconsent"]), m["lang"],
                        m["status"], list(m["categories"]), dict(m["details"]))

    def all(self) -> list[dict[str, Any]]:
        with self.engine.store.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(notice_campaigns).order_by(notice_campaigns.c.id))]

    # -- who is affected --------------------------------------------------------------------
    def email_fields(self, categories: list[str]) -> list[tuple[str, str, str]]:
        """(database, collection, field) of the email identities of the affected people."""
        everyone = EVERYONE in categories
        out: list[tuple[str, str, str]] = []
        for db in self.engine.dataset.databases:
            for coll in db.collections:
                emails = [f.name for f in coll.fields if f.identity == "email"]
                if not emails:
                    continue
                if not everyone and not self._holds(db.name, coll.name, categories):
                    continue
                out.extend((db.name, coll.name, e) for e in emails)
        return out

    def _holds(self, db: str, coll: str, categories: list[str]) -> bool:
        """The collection, or one that refers to it, holds one of these categories."""
        target = f"{db}.{coll}."
        for d in self.engine.dataset.databases:
            for c in d.collections:
                refers = any(r.field.startswith(target) for f in c.fields for r in f.references)
                if ((d.name == db and c.name == coll) or refers) and any_related(
                        categories, {k for f in c.fields for k in f.categories}):
                    return True
        return False

    def addresses(self, campaign: Campaign) -> Iterator[str]:
        """Distinct addresses of the people a campaign reaches, read from the platform now."""
        seen: set[str] = set()
        for db, coll, field in self.email_fields(campaign.categories):
            connector = self.engine.connectors.get(db)
            live = connector.columns(coll)
            parts: list[Pred] = [Not(IsNull(field))]
            if "status" in live:  # open accounts only
                parts.append(AnyOf((IsNull("status"), Cmp("status", "!=", "closed"))))
            if "deleted_at" in live:
                parts.append(IsNull("deleted_at"))
            with connector.begin() as conn:
                for row in selection.scan(connector, conn, coll, [field], All(tuple(parts)), 2000, distinct=True):
                    address = str(row[field]).strip()
                    if "@" not in address or address.lower() in seen:
                        continue
                    seen.add(address.lower())
                    yield address

    # -- sending ----------------------------------------------------------------------------
    def context(self, campaign: Campaign, key: str) -> dict[str, Any]:
        _ = translator(campaign.lang, ("notice",))
        policy = self.engine.policy
        base = self.engine.settings.base_url.rstrip("/")
        reconsent = ""
        if campaign.reconsent:
            token = self._signer.dumps({"c": campaign.id, "k": key})
            reconsent = _(RECONSENT, link=f"{base}/notice/accept?token={token}")
        lines = [_(CHANGE_LINES[s]) if s in CHANGE_LINES else _(OTHER_CHANGES)
                 for s in campaign.details.get("sections", [])] or [_(OTHER_CHANGES)]
        return {
            "controller": policy.controller.name, "version": campaign.details.get("version", policy.version),
            "date": format_date(campaign.effective_at.date(), "long", locale=campaign.lang),
            "changes": "\n".join(dict.fromkeys(lines)), "url": f"{base}/notice?lang={campaign.lang}",
            "reconsent": reconsent, "acquirer": campaign.details.get("acquirer", ""),
            "contact": campaign.details.get("contact", "") or policy.controller.email or "",
        }

    def send(self, campaign_id: int, *, limit: int | None = None,
             progress: Callable[[str], None] | None = None) -> Outcome:
        campaign = self.get(campaign_id)
        now = self.engine.now()
        if _aware(campaign.effective_at, now) <= now:
            raise CampaignError(f"campaign {campaign_id} applies from {campaign.effective_at.date()}; a notice "
                                "sent now would be too late")
        template = BUSINESS_TRANSFER if campaign.kind == "business_transfer" else POLICY_CHANGE
        reference = f"campaign:{campaign.id}"

        def messages() -> Iterator[tuple[str, dict[str, Any]]]:
            for address in self.addresses(campaign):
                yield address, self.context(campaign, self.notifier.key(address))

        def on_each(address: str, status: str) -> None:
            if status in ("sent", "skipped"):  # skipped: sent before, perhaps by the outbox's sender
                self._mark_sent(campaign.id, self.notifier.key(address), again=status == "sent")
            if progress:
                progress(status)

        outcome = self.notifier.send_many(messages(), template, campaign.lang, reference=reference,
                                          on_each=on_each, limit=limit)
        if (limit is None or outcome.sent < limit) and outcome.failed == 0:
            with self.engine.store.begin() as conn:
                conn.execute(update(notice_campaigns).where(notice_campaigns.c.id == campaign.id)
                             .values(status="sent"))
        self.engine.audit.record("notice.campaign.sent", target=reference, details=outcome.as_dict())
        return outcome

    def _mark_sent(self, campaign_id: int, key: str, *, again: bool = True) -> None:
        t = campaign_recipients
        with self.engine.store.begin() as conn:
            row = conn.execute(select(t.c.id, t.c.sent_at).where(t.c.campaign_id == campaign_id,
                                                                 t.c.subject_key == key)).first()
            if row is None:
                conn.execute(insert(t).values(campaign_id=campaign_id, subject_key=key, sent_at=self.engine.now()))
            elif again or row.sent_at is None:
                conn.execute(update(t).where(t.c.id == row.id).values(sent_at=self.engine.now()))

    # -- acceptance -------------------------------------------------------------------------
    def accept_token(self, campaign_id: int, address: str) -> str:
        return str(self._signer.dumps({"c": campaign_id, "k": self.notifier.key(address)}))

    def accept(self, token: str) -> int:
        """Record the acceptance a signed link carries; returns the campaign id."""
        try:
            data = self._signer.loads(token)
        except BadSignature as exc:
            raise CampaignError("the acceptance link is not valid") from exc
        cid, key = int(data["c"]), str(data["k"])
        self.get(cid)
        t = campaign_recipients
        now = self.engine.now()
        with self.engine.store.begin() as conn:
            row = conn.execute(select(t.c.id, t.c.accepted_at).where(t.c.campaign_id == cid,
                                                                     t.c.subject_key == key)).first()
            if row is None:
                conn.execute(insert(t).values(campaign_id=cid, subject_key=key, accepted_at=now))
            elif row.accepted_at is None:
                conn.execute(update(t).where(t.c.id == row.id).values(accepted_at=now))
            self.engine.audit.record("notice.campaign.accepted", target=f"campaign:{cid}",
                                     details={"subject_key": key}, conn=conn)
        return cid

    def status(self, campaign_id: int) -> dict[str, Any]:
        c = self.get(campaign_id)
        t = campaign_recipients
        with self.engine.store.connect() as conn:
            sent = conn.execute(select(func.count()).where(t.c.campaign_id == c.id, t.c.sent_at.is_not(None))
                                ).scalar_one()
            accepted = conn.execute(select(func.count()).where(t.c.campaign_id == c.id,
                                                               t.c.accepted_at.is_not(None))).scalar_one()
        return {"id": c.id, "kind": c.kind, "status": c.status, "effective_at": c.effective_at.isoformat(),
                "reconsent": c.reconsent, "lang": c.lang, "categories": c.categories, "sent": int(sent),
                "accepted": int(accepted), "details": c.details}
