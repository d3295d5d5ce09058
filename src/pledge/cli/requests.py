"""``pledge requests``: the request queue from the command line."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from pledge.cli import app
from pledge.cli.common import ConfigOpt, FormatOpt, NowOpt, console, fail, load_engine, print_json
from pledge.context import Context
from pledge.rights.requests import DENIAL_GROUNDS, INITIATIVE_GROUNDS, KINDS, RequestError, RequestView

requests_app = typer.Typer(help="Data-subject requests: the queue, deadlines, decisions and exports.",
                           no_args_is_help=True)
app.add_typer(requests_app, name="requests")

IdArg = Annotated[str, typer.Argument(help="The request id (req_…).")]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who acts, for the audit log (e.g. an email).")]


def _check_format(fmt: str) -> None:
    if fmt not in ("text", "json"):
        fail(f"--format {fmt!r}: use text or json")


def _table(views: list[RequestView], title: str) -> None:
    t = Table(title=title)
    for col in ("id", "kind", "state", "due", "days left", "flags"):
        t.add_column(col)
    for v in views:
        flags = []
        if v.overdue:
            flags.append("[bold red]OVERDUE[/]")
        if v.extended_due_on:
            flags.append("extended")
        if v.approval_needed and v.state in ("verified", "awaiting_approval"):
            flags.append("needs approval")
        t.add_row(v.id, v.kind, v.state, v.effective_due.isoformat(), str(v.days_left), " ".join(flags))
    console.print(t)


def _show(engine: Context, views: list[RequestView], fmt: str, title: str) -> None:
    if fmt == "json":
        print_json([v.as_dict() for v in views])
    elif not views:
        console.print(f"{title}: none")
    else:
        _table(views, title)


def _do(fn: Any, *args: Any, **kwargs: Any) -> RequestView:
    try:
        view: RequestView = fn(*args, **kwargs)
    except RequestError as exc:
        fail(str(exc))
    return view


def _done(view: RequestView) -> None:
    """Say how a run ended; a failed run exits 1 with its reason (``pledge requests run`` retries)."""
    if view.state == "failed":
        failure = view.result.get("failure") or {}
        fail(f"{view.id}: failed ({failure.get('error', '?')}: {failure.get('message', '')}); "
             f"fix the cause, then: pledge requests run {view.id}", code=1)
    console.print(f"{view.id}: {view.state}")


@requests_app.command("list")
def list_(config: ConfigOpt = None, state: Annotated[str | None, typer.Option(help="Only this state.")] = None,
          fmt: FormatOpt = "text", now: NowOpt = None) -> None:
    """The queue, soonest due first, with days left and overdue flags."""
    _check_format(fmt)
    engine = load_engine(config, now)
    try:
        views = engine.requests.find(state=state)
    except RequestError as exc:
        fail(str(exc))
    _show(engine, views, fmt, "Requests")


@requests_app.command()
def overdue(config: ConfigOpt = None, fmt: FormatOpt = "text", now: NowOpt = None) -> None:
    """Requests past their due date (exit 1 when there are any)."""
    _check_format(fmt)
    engine = load_engine(config, now)
    views = engine.requests.overdue()
    _show(engine, views, fmt, "Overdue requests")
    if views:
        raise typer.Exit(1)


@requests_app.command()
def show(request_id: IdArg, config: ConfigOpt = None, fmt: FormatOpt = "text", now: NowOpt = None) -> None:
    """One request: state, deadlines, grounds and result (never the identities)."""
    _check_format(fmt)
    engine = load_engine(config, now)
    view = _do(engine.requests.get, request_id)
    if fmt == "json":
        print_json(view.as_dict())
        return
    for key, value in view.as_dict().items():
        if value not in (None, "", [], {}):
            console.print(f"[bold]{key}[/]: {value}")


@requests_app.command()
def approve(request_id: IdArg, config: ConfigOpt = None, actor: ActorOpt = "cli", now: NowOpt = None) -> None:
    """Approve a verified request and carry it out now."""
    engine = load_engine(config, now)
    with console.status(f"Carrying out {request_id} …"):
        view = _do(engine.requests.approve, request_id, actor=actor)
    _done(view)


@requests_app.command()
def run(request_id: IdArg, config: ConfigOpt = None, actor: ActorOpt = "cli", now: NowOpt = None) -> None:
    """Carry out a verified request that needs no approval, resume it, or re-run it."""
    engine = load_engine(config, now)
    with console.status(f"Carrying out {request_id} …"):
        view = _do(engine.requests.run, request_id, actor=actor)
    _done(view)


@requests_app.command()
def deny(request_id: IdArg,
         ground: Annotated[str, typer.Option(help="Legal ground: " + ", ".join(DENIAL_GROUNDS))],
         config: ConfigOpt = None, note: Annotated[str, typer.Option(help="A note the requester reads.")] = "",
         actor: ActorOpt = "cli", now: NowOpt = None) -> None:
    """Deny a request on a ground from the law's list."""
    if ground not in DENIAL_GROUNDS:
        fail(f"--ground {ground!r}: choose one of {', '.join(DENIAL_GROUNDS)}")
    engine = load_engine(config, now)
    view = _do(engine.requests.deny, request_id, ground, note=note, actor=actor)
    console.print(f"{view.id}: {view.state} ({DENIAL_GROUNDS[ground]})")


@requests_app.command()
def extend(request_id: IdArg, reason: Annotated[str, typer.Option(help="Why more time is needed (sent).")],
           config: ConfigOpt = None, actor: ActorOpt = "cli", now: NowOpt = None) -> None:
    """Use the regime's one extension, while the first period runs; the reason is emailed."""
    engine = load_engine(config, now)
    view = _do(engine.requests.extend, request_id, reason, actor=actor)
    console.print(f"{view.id}: now due {view.effective_due.isoformat()}")


@requests_app.command("purge-exports")
def purge_exports(config: ConfigOpt = None,
                  days: Annotated[int, typer.Option(min=1, help="Keep exports this many days.")] = 30,
                  now: NowOpt = None) -> None:
    """Delete export files older than their retention period."""
    engine = load_engine(config, now)
    delivery = engine.requests.delivery
    delivery.keep_days = days
    count = delivery.purge(actor="cli")
    console.print(f"purged {count} export(s)")


@requests_app.command("expire")
def expire(config: ConfigOpt = None,
           days: Annotated[int, typer.Option(min=1, help="Expire requests still unverified this many days "
                                                         "after receipt.")] = 30,
           fmt: FormatOpt = "text", now: NowOpt = None) -> None:
    """Expire requests never verified in time and destroy their identities.

    The daily scheduler of `pledge serve` and Celery beat do this after each sweep."""
    _check_format(fmt)
    engine = load_engine(config, now)
    try:
        expired = engine.requests.expire_stale(now=engine.now(), after=timedelta(days=days), actor="cli")
    finally:
        engine.close()
    if fmt == "json":
        print_json({"expired": expired})
        return
    console.print(f"expired {len(expired)} unverified request(s); their identities are destroyed")


@requests_app.command("open")
def open_(
    kind: Annotated[str, typer.Option("--kind", help="One of: " + ", ".join(KINDS) + ".")],
    email: Annotated[str, typer.Option("--email", help="The requester's email address.")],
    config: ConfigOpt = None,
    channel: Annotated[str, typer.Option(help="How it arrived: email, post or phone.")] = "email",
    lang: Annotated[str, typer.Option(help="The requester's language: en or pl.")] = "en",
    actor: ActorOpt = "cli",
    now: NowOpt = None,
) -> None:
    """Record a request that arrived by email, post or phone, and send the verification code.

    The deadline runs from now (or --now, the day it was received)."""
    if channel not in ("email", "post", "phone"):
        fail(f"--channel {channel!r}: use email, post or phone")
    engine = load_engine(config, now)
    view = _do(engine.requests.create, kind, {"email": email}, lang=lang, source=channel, actor=actor)
    view = _do(engine.requests.start_verification, view.id, actor=actor)
    console.print(f"opened {view.id} ({view.kind}), due {view.effective_due.isoformat()}; "
                  f"a verification code went to the requester")


@requests_app.command()
def initiate(
    kind: Annotated[str, typer.Option("--kind", help="One of: " + ", ".join(KINDS) + ".")],
    email: Annotated[str, typer.Option("--email", help="The person concerned.")],
    ground: Annotated[str, typer.Option(help="Why the platform acts itself; one of: " + ", ".join(INITIATIVE_GROUNDS) + ".")],
    note: Annotated[str, typer.Option(help="Details for the record.")] = "",
    identity: Annotated[list[str] | None, typer.Option(
        "--identity", help="A further identity of the person, KIND=VALUE (user_id=42); needs --evidence.")] = None,
    evidence: Annotated[str, typer.Option(
        help="How you know the further identities are this person's (recorded in the audit log).")] = "",
    config: ConfigOpt = None,
    actor: ActorOpt = "cli",
    now: NowOpt = None,
) -> None:
    """Open a request on the platform's own initiative (a child under the minimum age, a legal order)."""
    ids = {"email": email}
    for item in identity or []:
        kind_, sep, value = item.partition("=")
        if not sep or not kind_.strip() or not value.strip():
            fail(f"--identity {item!r}: write KIND=VALUE, e.g. user_id=42")
        ids[kind_.strip()] = value.strip()
    engine = load_engine(config, now)
    view = _do(engine.requests.open_on_initiative, kind, ids, ground=ground, note=note, actor=actor,
               evidence=evidence)
    console.print(f"opened {view.id} ({view.kind}, ground {ground}), state {view.state}")
