"""The data-subject request lifecycle: from receipt to completion, every step audited.

Python API (``engine.requests`` is a :class:`RequestService`)::

    svc = engine.requests
    r = svc.create("access", {"email": "ann@example.org"}, lang="pl")   # state "received"
    svc.start_verification(r.id)           # emails a one-time code → "verifying"
    svc.verify_code(r.id, "123456")        # → "verified" (or "awaiting_approval")
    svc.verify_token(r.id, platform_jwt)   # a signed-in user's token instead of a code
    svc.approve(r.id, actor="admin:1")     # → "executing" → "completed" / "partially_completed"
    svc.run(r.id)                          # run a verified request that needs no approval, or re-run
    svc.deny(r.id, "manifestly_unfounded", note="...", actor="admin:1")
    svc.extend(r.id, "Many systems to search", actor="admin:1")
    svc.open_on_initiative("erasure", {"email": ...}, ground="child_under_minimum_age",
                           note="Date of birth shows age 12", actor="admin:1")
    svc.get(r.id) / svc.find(state=..., overdue=True) / svc.overdue()
    svc.identities(r.id)                   # decrypted identities (officers and the executor only)
    svc.status_token(r.id) / svc.check_status_token(r.id, token)   # the requester's status link

``r`` is a :class:`RequestView` (``as_dict()`` gives the JSON shape, without identities).

**The subject is what was verified.** ``create`` takes the requester's email and nothing
else that identifies a person: other identities come only inside a platform token the
platform signed, or from an officer who records their evidence (``open_on_initiative``).
Everything else about the person is found from those through the data map when the
request runs. Parameters are checked when the request is made
(:func:`pledge.rights.request_input.check_params`), so a bad one never waits for approval.
A run that fails moves the request to ``failed`` with the reason; it can be run again.
Ids are unguessable public ids (``req_…``), never the integer row id.

States and the only allowed moves are in :data:`TRANSITIONS`; any other move raises
:class:`RequestStateError`. Every move writes an audit entry ``request.<state>`` targeted
``request:<id>`` in the same transaction; identities never go into the audit log.
Denials name a ground from :data:`DENIAL_GROUNDS`; requests opened by an officer name
one from :data:`INITIATIVE_GROUNDS`.

Identities and parameters are stored as one Fernet token (:class:`pledge.rights.vault.Vault`),
found by ``identity_key``, the keyed HMAC of the email.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, Select, Update, bindparam, insert, select, update

from pledge.emails import is_email_address
from pledge.rights.deadlines import days_left, deadline_for, is_overdue, regime_for
from pledge.rights.request_model import (
    DENIAL_GROUNDS,
    EXPIRE_AFTER,
    FINAL_STATES,
    INITIATIVE_GROUNDS,
    KINDS,
    STATES,
    TRANSITIONS,
    Approval,
    RequestError,
    RequestNotFound,
    RequestStateError,
    RequestView,
    Written,
)
from pledge.rights.vault import Vault
from pledge.store.bound import set_columns, set_params
from pledge.store.tables.requests import requests as requests_table
from pledge.tasks import runs_inline

if TYPE_CHECKING:
    from pledge.context import Context
    from pledge.notify import Mail
    from pledge.outbox import Queued
    from pledge.rights.delivery import Delivery
    from pledge.rights.notices import Notices
    from pledge.rights.verify import Verifier

log = logging.getLogger(__name__)

__all__ = [
    "DENIAL_GROUNDS", "FINAL_STATES", "INITIATIVE_GROUNDS", "KINDS", "STATES", "TRANSITIONS",
    "RequestError", "RequestNotFound", "RequestService", "RequestStateError", "RequestView", "Written",
]


#: kinds whose run writes nothing before the transaction that completes it: approved and
#: carried out here and now (no broker), the approval's move is written in that transaction (#19)
APPROVED_AT_COMPLETION = ("access", "ccpa_know")

#: a new request's INSERT, returning the row as stored (built once: #19)
_INSERT_RETURNING = insert(requests_table).returning(*requests_table.c)


@lru_cache(maxsize=2)
def _row_query(lock: bool) -> Select[Any]:
    """One request's row by ``:public_id`` (``lock``: FOR UPDATE), built once (#19)."""
    q = select(requests_table).where(requests_table.c.public_id == bindparam("public_id"))
    return q.with_for_update() if lock else q


@lru_cache(maxsize=64)
def _move_query(columns: tuple[str, ...], returning: tuple[Any, ...]) -> Update:
    """A move's UPDATE of row ``:row_id`` still in state ``:from_state``, setting ``columns``
    (parameters ``v_<column>``) and returning ``returning``; built once per shape (#19)."""
    move = (update(requests_table)
            .where(requests_table.c.id == bindparam("row_id"), requests_table.c.state == bindparam("from_state"))
            .values(set_columns(requests_table, columns)))
    return move.returning(*returning) if returning else move


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


class RequestService:
    """The lifecycle of data-subject requests; built once per engine (``engine.requests``)."""

    def __init__(self, engine: Context) -> None:
        self.engine = engine
        self.vault = Vault(engine.keys)

    # -- collaborators (built lazily: each is its own module) -----------------------------
    @cached_property
    def verifier(self) -> Verifier:
        from pledge.rights.verify import Verifier

        return Verifier(self.engine, self.vault)

    @cached_property
    def delivery(self) -> Delivery:
        from pledge.rights.delivery import Delivery

        return Delivery(self.engine, self.vault)

    @cached_property
    def notices(self) -> Notices:
        from pledge.rights.notices import Notices

        return Notices(self.engine)

    # -- reading --------------------------------------------------------------------------
    def _view(self, row: Row[Any] | Written) -> RequestView:
        today = self.engine.now().date()
        due = row.extended_due_on or row.due_on
        final = row.state in FINAL_STATES
        return RequestView(
            id=row.public_id, kind=row.kind, state=row.state, regime=row.regime, lang=row.lang,
            source=row.source, received_at=_aware(row.received_at), due_on=row.due_on,
            extended_due_on=row.extended_due_on, confirm_by=row.confirm_by,
            days_left=days_left(due, today), overdue=(not final) and is_overdue(due, today),
            needs=list(row.needs or []), assurance=row.assurance, approval_needed=bool(row.approval_needed),
            initiative_ground=row.initiative_ground, initiative_note=row.initiative_note,
            denial_ground=row.denial_ground, denial_note=row.denial_note,
            extension_reason=row.extension_reason,
            verified_at=_aware(row.verified_at) if row.verified_at else None,
            closed_at=_aware(row.closed_at) if row.closed_at else None,
            created_by=row.created_by, result=dict(row.result or {}), row_id=row.id,
        )

    def _row(self, conn: Connection, public_id: str, *, lock: bool = False) -> Row[Any]:
        row: Row[Any] | None = self.engine.store.run(conn, _row_query(lock), {"public_id": public_id}).first()
        if row is None:
            raise RequestNotFound(f"no request {public_id!r}")
        return row

    def get(self, public_id: str) -> RequestView:
        with self.engine.store.read() as conn:
            return self._view(self._row(conn, public_id))

    def payload(self, public_id: str) -> dict[str, Any]:
        """The decrypted ``{"identities": {...}, "params": {...}}`` of a request."""
        return self.load(public_id)[1]

    def load(self, public_id: str) -> tuple[RequestView, dict[str, Any]]:
        """The request and its decrypted payload, from one read of its row."""
        row, data = self.load_row(public_id)
        return self._view(row), data

    def load_row(self, public_id: str, *, known: object = None) \
            -> tuple[Row[Any] | Written, dict[str, Any]]:
        """The request's row and its decrypted payload: ``known`` when given (a row this
        process just wrote, #19: not read back), else one read."""
        row = known if isinstance(known, Row | Written) else None  # a payload from a broker holds JSON only
        if row is None or row.public_id != public_id:
            with self.engine.store.read() as conn:
                row = self._row(conn, public_id)
        data: dict[str, Any] = self.vault.open(row.payload_enc)
        return row, data

    def identities(self, public_id: str) -> dict[str, str]:
        ids: dict[str, str] = self.payload(public_id)["identities"]
        return ids

    def find(self, *, state: str | None = None, overdue: bool | None = None, kind: str | None = None,
             email: str | None = None, limit: int = 500) -> list[RequestView]:
        """Requests sorted by their effective due date (soonest first)."""
        q = select(requests_table)
        if state:
            if state not in STATES:
                raise RequestError(f"unknown state {state!r}; one of: {', '.join(STATES)}")
            q = q.where(requests_table.c.state == state)
        if kind:
            q = q.where(requests_table.c.kind == kind)
        if email:
            # any subject key: requests made before a rotation are still found
            q = q.where(requests_table.c.identity_key.in_(self.vault.lookup_keys("email", email)))
        with self.engine.store.connect() as conn:
            views = [self._view(r) for r in conn.execute(q.order_by(requests_table.c.due_on, requests_table.c.id))]
        if overdue is not None:
            views = [v for v in views if v.overdue == overdue]
        views.sort(key=lambda v: (v.final, v.effective_due, v.received_at))
        return views[:limit]

    def overdue(self) -> list[RequestView]:
        return self.find(overdue=True)

    # -- creating -------------------------------------------------------------------------
    def _check(self, kind: str, identities: dict[str, Any], lang: str,
               params: dict[str, Any] | None) -> tuple[dict[str, str], dict[str, Any]]:
        """Identities and params of a new request, checked (see pledge.rights.request_input)."""
        from pledge.rights.request_input import RequestInputError, check_identities, check_params

        if kind not in KINDS:
            raise RequestError(f"unknown request kind {kind!r}; one of: {', '.join(KINDS)}")
        if lang not in ("en", "pl"):
            raise RequestError(f"language {lang!r} is not supported; use en or pl")
        if not is_email_address(str(identities.get("email") or "").strip()):
            raise RequestError("a valid email address (name@example.org) is needed to identify and answer "
                               "the requester")
        try:
            return check_identities(identities), check_params(self.engine, kind, params)
        except RequestInputError as exc:
            raise RequestError(str(exc)) from None

    def _needs(self, kind: str, params: dict[str, Any], email: str) -> list[str]:
        level = "reasonably_high" if kind == "ccpa_know" and params.get("specific") else "reasonable"
        needs = [level]
        if self.engine.policy.verification.managed_accounts == "org_admin" and \
                self.verifier.org_admin_for(email) is not None:
            needs.append("org_admin")
        return needs

    def create(self, kind: str, identities: dict[str, str], *, params: dict[str, Any] | None = None,
               lang: str = "en", source: str = "person", actor: str = "subject",
               notify: bool = True) -> RequestView:
        """Record a new request in state ``received`` and send the receipt email.

        ``identities`` holds the requester's ``email`` only: a code sent there is the one
        proof a stranger can give. Any other identity is refused; the platform vouches for
        more inside its signed token (:meth:`verify_token`)."""
        extra = sorted(str(k) for k, v in identities.items() if k != "email" and str(v or "").strip())
        if extra:
            raise RequestError(f"identities.{extra[0][:40]}: a request names only the requester's email, which "
                               "is verified; other identities (user ids and the like) are found from it through "
                               "the data map, or come inside the platform's signed token")
        clean, params = self._check(kind, {"email": identities.get("email", "")}, lang, params)
        needs = self._needs(kind, params, clean["email"])
        return self._insert(kind, clean, params, lang=lang, source=source, actor=actor, state="received",
                            needs=needs, notify=notify)

    def open_on_initiative(self, kind: str, identities: dict[str, str], *, ground: str, note: str = "",
                           actor: str, params: dict[str, Any] | None = None, lang: str = "en",
                           evidence: str = "") -> RequestView:
        """A request the platform opens itself (a child found under age, a legal order).

        Identities beyond the email need ``evidence``: how the officer knows they are this
        person's (recorded in the audit log with the request)."""
        if ground not in INITIATIVE_GROUNDS:
            raise RequestError(f"unknown ground {ground!r}; one of: {', '.join(INITIATIVE_GROUNDS)}")
        clean, params = self._check(kind, identities, lang, params)
        evidence = evidence.strip()
        if set(clean) - {"email"} and not evidence:
            raise RequestError("identities other than the email need the evidence that they are this person's "
                               "(evidence=...)")
        return self._insert(kind, clean, params, lang=lang, source="officer", actor=actor,
                            state="verified", needs=[], initiative=(ground, note), notify=False,
                            evidence=evidence)

    def _insert(self, kind: str, identities: dict[str, str], params: dict[str, Any], *, lang: str, source: str,
                actor: str, state: str, needs: list[str], initiative: tuple[str, str] | None = None,
                notify: bool = True, evidence: str = "") -> RequestView:
        policy = self.engine.policy
        now = self.engine.now()
        regime = regime_for(policy, kind)
        d = deadline_for(policy, regime, now)
        public_id = "req_" + secrets.token_urlsafe(18)
        approval = kind in policy.rights.approval_required or bool(initiative and kind in ("erasure", "ccpa_delete"))
        values: dict[str, Any] = dict(
            public_id=public_id, kind=kind, state=state, regime=regime, lang=lang, source=source,
            identity_key=self.vault.lookup_key("email", identities["email"]),
            payload_enc=self.vault.seal({"identities": identities, "params": params}),
            initiative_ground=initiative[0] if initiative else None,
            initiative_note=initiative[1] if initiative else None,
            needs=needs, assurance="officer" if initiative else "none", approval_needed=approval,
            received_at=now, confirm_by=d.confirm_by, due_on=d.due, updated_at=now, created_by=actor,
            verified_at=now if state == "verified" else None, result={},
        )
        written = None
        with self.engine.store.begin() as conn:
            if conn.dialect.insert_returning:  # the row as stored, without reading it back (#19)
                written = conn.execute(_INSERT_RETURNING, values).one()
            else:
                conn.execute(insert(requests_table), values)
            details: dict[str, Any] = {"kind": kind, "regime": regime, "source": source, "due_on": d.due,
                                       "needs": needs, "approval_needed": approval}
            if initiative:
                details["ground"] = initiative[0]
                details["note"] = initiative[1]
                details["identity_kinds"] = sorted(identities)
                if evidence:
                    details["evidence"] = evidence[:2000]
            self.engine.audit.record(f"request.{state}", actor=actor, target=f"request:{public_id}",
                                     details=details, conn=conn)
        view = self._view(written) if written is not None else self.get(public_id)
        if notify:
            self.notices.requester(view, identities["email"], "received")
        return view

    # -- moving ---------------------------------------------------------------------------
    def _move(self, conn: Connection, row: Row[Any] | Written, new: str, *, actor: str,
              details: dict[str, Any] | None = None, **values: Any) -> RequestView:
        """Move the locked ``row`` to ``new`` with its audit entry; returns the row as written."""
        return self._view(self._moved(conn, row, new, actor=actor, details=details, **values))

    def _moved(self, conn: Connection, row: Row[Any] | Written, new: str, *, actor: str,
               details: dict[str, Any] | None = None, **values: Any) -> Written:
        """:meth:`_move`, returning the row as written (to move it on in the same transaction
        without reading it back)."""
        written = self._write_move(conn, row, new, **values)
        self._audit_move(conn, row, new, actor=actor, details=details)
        return written

    def _write_move(self, conn: Connection, row: Row[Any] | Written, new: str, *, through: str | None = None,
                    **values: Any) -> Written:
        """The UPDATE of :meth:`_moved` alone, guarded by the state ``row`` was read in (its
        audit entry is :meth:`_audit_move`'s, written in the same transaction). ``through``: a
        state passed on the way (an approval's ``executing``, written with its run): both moves
        must be allowed, and one UPDATE writes where the second leaves the row (#19)."""
        for start, end in ((row.state, through), (through, new)) if through else ((row.state, new),):
            if end not in TRANSITIONS[start]:
                raise RequestStateError(f"request {row.public_id} is {start}; it cannot become {end}")
        now = self.engine.now()
        if new in FINAL_STATES:
            values.setdefault("closed_at", now)
        if new == "executing" and row.state not in ("executing", "failed"):  # a new run: its token names it
            values.setdefault("result", {**dict(row.result or {}), "run": secrets.token_hex(8)})
        values = {**values, "state": new, "updated_at": now}
        head = self.engine.audit.head_columns(conn)  # the audit head, locked after the row (#19)
        move = _move_query(tuple(sorted(values)), head)
        params = {"row_id": row.id, "from_state": row.state, **set_params(values)}
        if head:
            got = self.engine.store.run(conn, move, params).first()
            if got is not None:
                self.engine.audit.head_from(conn, got)
            moved = got is not None
        else:
            moved = self.engine.store.run(conn, move, params).rowcount == 1
        if not moved:
            raise RequestStateError(f"request {row.public_id} changed while this step ran; try again")
        # the row is locked and was just written: its new content is known without reading it back
        return Written({**row._mapping, **values})

    def _audit_move(self, conn: Connection, row: Row[Any] | Written, new: str, *, actor: str,
                    details: dict[str, Any] | None = None) -> None:
        self.engine.audit.record(f"request.{new}", actor=actor, target=f"request:{row.public_id}",
                                 details={"from": row.state, **(details or {})}, conn=conn)

    def transition(self, public_id: str, new: str, *, actor: str, details: dict[str, Any] | None = None,
                   **values: Any) -> RequestView:
        """Move a request to ``new`` if :data:`TRANSITIONS` allows it (audited)."""
        with self.engine.store.begin() as conn, self.engine.audit.batch(conn):
            return self._move(conn, self._row(conn, public_id, lock=True), new, actor=actor, details=details,
                              **values)

    def after_verified(self, public_id: str, actor: str) -> RequestView:
        """A verified request that needs approval goes to the approval queue."""
        view = self.get(public_id)
        if view.state == "verified" and view.approval_needed:
            view = self.transition(public_id, "awaiting_approval", actor=actor)
        return view

    # -- verification (see pledge.rights.verify) -------------------------------------------
    # ``client`` is the asking network address (the rate limits count it; pledge.ratelimit)
    def start_verification(self, public_id: str, *, actor: str = "subject",
                           client: str | None = None) -> RequestView:
        """Email a one-time code (and ask the organisation's administrator when needed)."""
        return self.verifier.start(self, public_id, actor=actor, client=client)

    def resend_code(self, public_id: str, *, client: str | None = None) -> RequestView:
        return self.verifier.resend(self, public_id, client=client)

    def verify_code(self, public_id: str, code: str, *, client: str | None = None) -> RequestView:
        return self.verifier.check_code(self, public_id, code, client=client)

    def verify_token(self, public_id: str, token: str) -> RequestView:
        return self.verifier.check_platform_token(self, public_id, token)

    def confirm_org_admin(self, public_id: str, token: str) -> RequestView:
        return self.verifier.check_org_admin(self, public_id, token)

    def status_token(self, public_id: str) -> str:
        return self.verifier.status_token(public_id)

    def check_status_token(self, public_id: str, token: str) -> bool:
        return self.verifier.check_status_token(public_id, token)

    # -- decisions --------------------------------------------------------------------------
    def approve(self, public_id: str, *, actor: str, run: bool = True) -> RequestView:
        """Approve a verified request and (by default) carry it out now.

        The row is read without a lock: the approval's move is guarded by the state read
        here, so a request someone else moved meanwhile is not approved (409). An access
        request carried out here and now (:func:`~pledge.tasks.runs_inline`: no broker, no
        claim rows, the task gets what it is handed) writes nothing until it completes, so
        its approval is written in the transaction that completes it, or before the failure
        of a run that fails (:class:`Approval`; #19: one transaction fewer)."""
        with self.engine.store.read() as conn:
            row = self._row(conn, public_id)
        if row.state not in ("verified", "awaiting_approval"):
            raise RequestStateError(f"request {public_id} is {row.state}; only a verified request "
                                    "or one awaiting approval can be approved")
        details = {"approved": True}
        if run and row.kind in APPROVED_AT_COMPLETION and runs_inline(self.engine.jobs):
            after = Written({**row._mapping, "state": "executing", "updated_at": self.engine.now(),
                             "result": {**dict(row.result or {}), "run": secrets.token_hex(8)}})
            return self._submit(self._view(after), actor, Approval(row, after, actor))
        with self.engine.store.begin() as conn, self.engine.audit.batch(conn):
            written = self._moved(conn, row, "executing", actor=actor, details=details)
        view = self._view(written)
        return self._submit(view, actor, written) if run else view

    def _write_approval(self, approval: Approval) -> bool:
        """An :class:`Approval` written on its own: the move to ``executing`` with its audit
        entry, in a transaction of its own; False when someone moved the request meanwhile (it
        is left as they left it)."""
        try:
            with self.engine.store.begin() as conn, self.engine.audit.batch(conn):
                self._moved(conn, approval.before, "executing", actor=approval.actor, details={"approved": True},
                            result=approval.after.result)
        except RequestStateError:
            return False
        return True

    def run(self, public_id: str, *, actor: str = "system") -> RequestView:
        """Carry out a verified request that needs no approval, or resume / re-run one.

        The row is read once, locked, and checked and moved in that transaction (#19)."""
        with self.engine.store.begin() as conn, self.engine.audit.batch(conn):
            row = self._row(conn, public_id, lock=True)
            if row.state == "awaiting_approval":
                raise RequestStateError(f"request {public_id} awaits approval; approve it first")
            if row.state == "verified" and row.approval_needed:
                raise RequestStateError(f"request {public_id} needs approval; approve it first")
            if row.state not in ("verified", "executing", "partially_completed", "failed"):
                raise RequestStateError(f"request {public_id} is {row.state}; it cannot be run")
            written = self._moved(conn, row, "executing", actor=actor) if row.state != "executing" else None
        return self._submit(self._view(written if written is not None else row), actor, written)

    def execute(self, public_id: str, *, actor: str) -> RequestView:
        """Hand an ``executing`` request to ``engine.jobs`` as the task ``requests.execute``.

        In-process (no broker) it is carried out before this returns, and a failure
        raises. With workers it returns at once, still ``executing``; a worker moves it on.
        """
        return self._submit(self.get(public_id), actor)

    def _submit(self, view: RequestView, actor: str, written: Written | Approval | None = None) -> RequestView:
        """``written``: the row as this process just committed it, for a task run here and
        now to start from instead of reading it back (#19), or the :class:`Approval` that run
        writes; a runner that sends the task elsewhere leaves it."""
        from pledge.tasks import LOCAL

        run = str(view.result.get("run", "")) if view.state == "executing" else ""
        ran = self.engine.jobs.submit("requests.execute", {"request_id": view.id, "actor": actor, "run": run},
                                      batch=f"request-{view.id}", local=written)
        if isinstance(written, Approval) and not (ran or {}).get("ran"):
            # the runner did not run it here with its approval (a runner that breaks the contract
            # of InlineJobs): nothing was written, so say so rather than answer as if approved
            raise RuntimeError(f"request {view.id}: the job runner did not carry out the approval it was "
                               "handed; the request is unchanged")
        if ran is None:  # sent to the workers: it stands as sent, executing (#19: not read back)
            return view
        # carried out here and now (no broker): the task returns the view carry_out just wrote;
        # a run that found nothing to do leaves the row to say where it stands
        done = ran.get(LOCAL)
        return done if isinstance(done, RequestView) and done.id == view.id else self.get(view.id)

    def carry_out(self, public_id: str, *, actor: str, run_token: str | None = None,
                  loaded: tuple[Row[Any] | Written, dict[str, Any]] | None = None,
                  approval: Approval | None = None) -> RequestView:
        """Carry out an ``executing`` request here and now (the task's body).

        ``loaded`` is what :meth:`load_row` just gave for it, to spare reading the row again.
        ``approval``: its approval, not written yet; ``loaded`` is then the row as that
        approval writes it, and the transaction that completes the run (or records its
        failure) writes the approval first.
        What the run leaves to record (its export row, its audit entry) is written in one
        transaction with the move to ``completed`` and that move's audit entry. That move
        is guarded by the state the run started from (``executing``): a request another
        run moved on meanwhile is not moved again, and nothing of this run is written.
        """
        from pledge.rights.request_run import execute

        started, payload = loaded or self.load_row(public_id)
        view = self._view(started)
        finish: list[Callable[[Connection], object]] = []
        try:
            state, result = execute(self.engine, self, view, payload["identities"], payload["params"], actor=actor,
                                    run_token=run_token, finish=finish)
        except Exception as exc:  # noqa: BLE001 - any failure ends visibly in "failed", never stuck
            return self._failed(public_id, exc, actor=actor, approval=approval)
        email = payload["identities"]["email"]
        # the requester's email is composed now and queued with the completion (#19): one
        # transaction, and the mail goes out after its commit (never for a completion that rolled back)
        try:
            mail: Mail | None = self.notices.requester_mail(replace(view, state=state, result=result), email,
                                                            "completed")
        except Exception:  # noqa: BLE001 - the completion must not wait on a template; sent the old way below
            log.exception("request %s: composing the completion email failed; sending it after the commit", public_id)
            mail = None
        queued: Queued | None = None
        # the run's audit entry and the move's are chained together and written at once (#19)
        committing = False
        try:
            with self.engine.store.begin() as conn, self.engine.audit.batch(conn):
                # the request's row is written (and so locked) first, the order every move locks
                # in (request, then audit head); the run's entries come before the move's (#19:
                # no locking read of the row first)
                if approval is None:
                    written = self._write_move(conn, started, state, result=result)
                else:  # the approval's move and this one in one UPDATE, guarded by the approved state
                    written = self._write_move(conn, approval.before, state, through="executing", result=result)
                    self._audit_move(conn, approval.before, "executing", actor=approval.actor,
                                     details={"approved": True})
                for step in finish:
                    step(conn)
                self._audit_move(conn, started, state, actor=actor, details={"summary": result.get("summary", {})})
                # an export in the result is the one this run wrote: nobody has had a link to it yet
                view = replace(self._view(written), export_downloads=0 if result.get("export") else None)
                if mail is not None:
                    queued = self.notices.notifier.queue(conn, mail)
                committing = True
        except Exception as exc:
            if not committing and result.get("export"):  # rolled back for sure: its file goes too
                self.delivery.discard(str(result["export"]))
            # moved by someone else meanwhile: nothing of this run, nor its approval, is written;
            # otherwise the approval is written all the same, so the request stands approved and
            # executing, as it would had the approval been written first (a re-run resumes)
            if approval is not None and not isinstance(exc, RequestStateError):
                self._write_approval(approval)
            raise
        if mail is None:
            self.notices.requester(view, email, "completed")
        else:
            self.engine.outbox.committed(queued)
        self.notices.recipients(view, payload["identities"])
        return view

    def _failed(self, public_id: str, exc: Exception, *, actor: str, approval: Approval | None = None) \
            -> RequestView:
        """Move an ``executing`` request to ``failed`` with the reason (audited); it can be run
        again. An ``approval`` not written yet is written first (a request someone else moved
        meanwhile is left as they left it)."""
        failure = {"error": type(exc).__name__, "message": str(exc)[:500], "at": self.engine.now().isoformat()}
        if approval is not None and not self._write_approval(approval):
            raise RequestStateError(f"request {public_id} changed while it was being approved; it was not approved")
        with self.engine.store.begin() as conn:
            row = self._row(conn, public_id, lock=True)
            if row.state != "executing":  # another run moved it on meanwhile
                return self._view(row)
            view = self._move(conn, row, "failed", actor=actor, details={"failure": failure},
                              result={**dict(row.result or {}), "failure": failure})
        return view

    def deny(self, public_id: str, ground: str, *, note: str = "", actor: str, notify: bool = True) -> RequestView:
        if ground not in DENIAL_GROUNDS:
            raise RequestError(f"unknown ground {ground!r}; one of: {', '.join(DENIAL_GROUNDS)}")
        view = self.transition(public_id, "denied", actor=actor, details={"ground": ground, "note": note},
                               denial_ground=ground, denial_note=note)
        if notify:
            self.notices.requester(view, self.identities(public_id)["email"], "denied")
        return view

    def extend(self, public_id: str, reason: str, *, actor: str) -> RequestView:
        """Use the regime's one extension; only while the first period runs, with a reason."""
        reason = reason.strip()
        if not reason:
            raise RequestError("an extension needs a reason the requester will read")
        with self.engine.store.begin() as conn:
            row = self._row(conn, public_id, lock=True)
            if row.state in FINAL_STATES:
                raise RequestStateError(f"request {public_id} is {row.state}; it cannot be extended")
            if row.extended_due_on is not None:
                raise RequestStateError(f"request {public_id} was already extended to {row.extended_due_on}")
            d = deadline_for(self.engine.policy, row.regime, _aware(row.received_at))
            today = self.engine.now().date()
            if d.extended_due is None or d.extension_notice_by is None:
                raise RequestError(f"the {row.regime} rules in the policy allow no extension")
            if today > d.extension_notice_by:
                raise RequestStateError(f"too late to extend: the reason had to reach the requester by "
                                        f"{d.extension_notice_by.isoformat()}")
            conn.execute(update(requests_table).where(requests_table.c.id == row.id).values(
                extended_due_on=d.extended_due, extension_reason=reason, updated_at=self.engine.now()))
            self.engine.audit.record("request.extended", actor=actor, target=f"request:{public_id}",
                                     details={"reason": reason, "due_on": d.extended_due}, conn=conn)
        view = self.get(public_id)
        self.notices.requester(view, self.identities(public_id)["email"], "extended")
        return view

    def expire_stale(self, *, now: datetime | None = None, after: timedelta = EXPIRE_AFTER,
                     actor: str = "system") -> list[str]:
        """Requests never verified within ``after`` of receipt (at ``now``, default the
        engine's clock) become ``expired``, and their identities are destroyed: the sealed
        payload is replaced by an empty one and the lookup key is cleared, in the same
        transaction as the move and its audit entry. Expired requests that still hold
        identities (expired before this was done) lose them too. Returns the ids expired.

        The daily scheduler (``pledge serve``), Celery beat and ``pledge requests expire``
        run it."""
        cutoff = (now or self.engine.now()) - after
        gone = {"payload_enc": self.vault.seal({"identities": {}, "params": {}}), "identity_key": ""}
        done: list[str] = []
        with self.engine.store.connect() as conn:
            stale = [r.public_id for r in conn.execute(
                select(requests_table.c.public_id, requests_table.c.received_at)
                .where(requests_table.c.state.in_(("received", "verifying")))) if _aware(r.received_at) < cutoff]
        for public_id in stale:
            with self.engine.store.begin() as conn:
                row = self._row(conn, public_id, lock=True)
                if row.state not in ("received", "verifying"):  # verified meanwhile
                    continue
                self._move(conn, row, "expired", actor=actor, details={"after_days": after.days,
                                                                        "identities": "destroyed"}, **gone)
            done.append(public_id)
        with self.engine.store.begin() as conn:
            conn.execute(update(requests_table).where(requests_table.c.state == "expired",
                                                      requests_table.c.identity_key != "").values(**gone))
        return done
