"""``pledge breach``: the breach register and notifications (GDPR Art. 33 and 34)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from pledge.cli import app
from pledge.cli.common import ConfigOpt, NowOpt, console, fail, load_engine, print_json
from pledge.context import Context

breach_app = typer.Typer(help="Personal-data breaches: register, assess, notify the authority and people.",
                         no_args_is_help=True)
app.add_typer(breach_app, name="breach")

ActorOpt = Annotated[str, typer.Option("--actor", help="Who is acting, for the audit log.")]
IdArg = Annotated[int, typer.Argument(help="The breach's number in the register (pledge breach list).")]


def _engine(config: Path | None, now: str | None = None) -> Context:
    engine = load_engine(config, now)
    try:
        engine.policy  # noqa: B018 - load now so that a bad file is reported here
        engine.dataset  # noqa: B018
    except (OSError, ValidationError, ValueError) as exc:
        fail(f"{engine.config.policy}: {exc}")
    return engine


def _when(option: str, value: str, *, end_of_day: bool = False) -> datetime:
    """An ISO 8601 time (UTC when no offset); a bare date as ``--to`` means the whole day."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not an ISO 8601 date or time, e.g. 2026-05-01T09:30:00+00:00")
    if end_of_day and len(value.strip()) == 10:
        moment = moment + timedelta(days=1) - timedelta(microseconds=1)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@breach_app.command("open")
def open_cmd(
    title: Annotated[str, typer.Option("--title", help="What happened, in one line.")],
    aware_at: Annotated[str, typer.Option("--aware-at", help="When you became aware (ISO 8601); the 72-hour "
                                                           "clock starts here.")],
    collection: Annotated[list[str], typer.Option("--collection", help="An exposed collection, db.collection "
                                                                        "(repeat for more).")],
    window_from: Annotated[str, typer.Option("--from", help="Start of the exposure window (ISO 8601).")],
    window_to: Annotated[str, typer.Option("--to", help="End of the exposure window (ISO 8601).")],
    field: Annotated[list[str] | None, typer.Option("--field", help="An exposed field, db.collection.field "
                                                                     "(repeat; default: every field).")] = None,
    description: Annotated[str, typer.Option("--description", help="What happened, in more detail.")] = "",
    time_field: Annotated[str, typer.Option("--time-field", help="Column that places a row in the window.")]
    = "created_at",
    config: ConfigOpt = None,
    now: NowOpt = None,
    actor: ActorOpt = "cli",
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Register a breach: finds the affected people and records from the data map."""
    from pledge.breach.register import BreachError

    engine = _engine(config, now)
    start, end, aware = _when("--from", window_from), _when("--to", window_to, end_of_day=True), _when("--aware-at", aware_at)
    with console.status("Finding the affected people…"):
        try:
            breach = engine.breaches.open(title=title, aware_at=aware, collections=collection, fields=field,
                                          window_from=start, window_to=end, description=description,
                                          time_field=time_field, actor=actor)
        except BreachError as exc:
            fail(str(exc))
    if fmt == "json":
        print_json(breach.as_dict())
        return
    clock = engine.breaches.clock(breach)
    console.print(f"Breach [bold]{breach.id}[/] registered: {breach.people_count} people, "
                  f"{breach.records_count} records ({breach.unreachable_count} with no email to write to).")
    console.print(f"Authority deadline: {clock.deadline.isoformat()} ({clock.hours_left} hours left). "
                  f"Next: pledge breach assess {breach.id} --likelihood … --severity …")


@breach_app.command("assess")
def assess_cmd(
    breach_id: IdArg,
    likelihood: Annotated[str, typer.Option("--likelihood", help="How likely harm is: low, medium or high.")],
    severity: Annotated[str, typer.Option("--severity", help="How serious harm would be: low, medium or high.")],
    encrypted: Annotated[bool, typer.Option("--encrypted/--no-encrypted",
                                            help="The exposed data was encrypted or otherwise unintelligible "
                                                 "(Art. 34(3)(a)).")] = False,
    measures: Annotated[str | None, typer.Option("--measures", help="Measures taken or proposed.")] = None,
    consequences: Annotated[str | None, typer.Option("--consequences", help="Likely consequences, in words.")]
    = None,
    config: ConfigOpt = None,
    now: NowOpt = None,
    actor: ActorOpt = "cli",
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Assess the risk and decide whether the authority and the people must be told."""
    from pledge.breach.register import BreachError

    engine = _engine(config, now)
    try:
        b = engine.breaches.assess(breach_id, likelihood=likelihood, severity=severity, encrypted=encrypted,
                                   measures=measures, consequences=consequences, actor=actor)
    except BreachError as exc:
        fail(str(exc))
    if fmt == "json":
        print_json(b.as_dict())
        return
    console.print(f"Risk: [bold]{b.risk}[/]")
    console.print(f"Authority: {'tell' if b.notify_authority else 'no need'} — {b.authority_reason}")
    console.print(f"People: {'tell' if b.notify_people else 'no need'} — {b.people_reason}")


@breach_app.command("notify")
def notify_cmd(
    breach_id: IdArg,
    authority: Annotated[bool, typer.Option("--authority", help="Record the authority report as sent (the "
                                                                "first phase, or the next one).")] = False,
    people: Annotated[bool, typer.Option("--people", help="Email every affected person not yet told.")] = False,
    rate: Annotated[str, typer.Option("--rate", help="Emails per second, e.g. 5 or 5/s.")] = "10/s",
    lang: Annotated[str | None, typer.Option("--lang", help="en or pl (default: the policy's language).")] = None,
    phase: Annotated[str | None, typer.Option("--phase", help="initial, supplementary or final (with "
                                                              "--authority).")] = None,
    note: Annotated[str, typer.Option("--note", help="What this authority phase adds.")] = "",
    out: Annotated[Path | None, typer.Option("--out", help="Also write the authority report here (.md, .html "
                                                           "or .json).")] = None,
    config: ConfigOpt = None,
    now: NowOpt = None,
    actor: ActorOpt = "cli",
) -> None:
    """Tell the supervisory authority (Art. 33) and/or the affected people (Art. 34)."""
    from pledge.breach.notify_people import notify_people
    from pledge.breach.register import BreachError
    from pledge.breach.report import authority_report, render_report

    if not authority and not people:
        fail("say whom to tell: --authority, --people, or both")
    try:
        per_second = float(rate.strip().removesuffix("/s"))
    except ValueError:
        fail(f"--rate {rate!r} is not a number of emails per second, e.g. 5/s")
    if per_second <= 0:
        fail("--rate must be above zero")
    if lang is not None and lang not in ("en", "pl"):
        fail(f"--lang {lang!r} must be en or pl")
    engine = _engine(config, now)
    try:
        breach = engine.breaches.get(breach_id)
        if authority:
            kind = phase or ("initial" if not engine.breaches.phases(breach_id) else "supplementary")
            draft = authority_report(engine, breach_id)
            engine.breaches.record_phase(breach_id, kind, draft, note=note, actor=actor)
            if out is not None:
                fmt = out.suffix.lstrip(".") or "md"
                if fmt not in ("md", "html", "json"):
                    fail(f"--out {out}: the name must end in .md, .html or .json")
                out.write_text(render_report(authority_report(engine, breach_id), fmt), encoding="utf-8")
            auth = engine.policy.authority
            console.print(f"Authority report ({kind}) recorded for {auth.name if auth else 'the authority'}.")
        if people:
            total = breach.people_count
            with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                          MofNCompleteColumn(), console=console, transient=True) as progress:
                task = progress.add_task("Emailing people", total=total)
                result = notify_people(engine, breach_id, rate_per_second=per_second, lang=lang, actor=actor,
                                       on_sent=lambda _a: progress.advance(task))
            if result.exempt:
                console.print(f"No emails sent: {engine.breaches.get(breach_id).people_reason}")
            else:
                console.print(f"Emails: {result.sent} sent, {result.skipped} already sent, {result.failed} failed"
                              + (f", {result.unknown} not in the register" if result.unknown else "") + ".")
                if result.failed:
                    raise typer.Exit(1)
    except BreachError as exc:
        fail(str(exc))


@breach_app.command("list")
def list_cmd(
    config: ConfigOpt = None,
    now: NowOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Every breach in the register, with the 72-hour authority clock."""
    if fmt not in ("text", "json"):
        fail(f"--format {fmt!r} must be text or json")
    engine = _engine(config, now)
    reg = engine.breaches
    rows = [(b, reg.clock(b)) for b in reg.all()]
    if fmt == "json":
        print_json([{**b.as_dict(), "clock": c.as_dict(), "notified_people": reg.notified_count(b.id)}
                    for b, c in rows])
        return
    if not rows:
        console.print("The register is empty.")
        return
    table = Table(title="Breach register")
    for col in ("#", "title", "aware", "people", "records", "risk", "authority clock", "status"):
        table.add_column(col)
    for b, c in rows:
        if c.state == "overdue":
            clock = f"[bold red]OVERDUE by {-c.hours_left} h[/]"
        elif c.state == "running":
            clock = f"{c.hours_left} h left"
        else:
            clock = c.state.replace("_", " ")
        table.add_row(str(b.id), b.title, b.aware_at.strftime("%Y-%m-%d %H:%M"), str(b.people_count),
                      str(b.records_count), b.risk or "-", clock, b.status)
    console.print(table)


@breach_app.command("report")
def report_cmd(
    breach_id: IdArg,
    fmt: Annotated[str, typer.Option("--format", help="md, html or json.")] = "md",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file (default: standard output).")]
    = None,
    config: ConfigOpt = None,
    now: NowOpt = None,
) -> None:
    """Draft the Art. 33(3) report to the supervisory authority."""
    import sys

    from pledge.breach.register import BreachError
    from pledge.breach.report import FORMATS, authority_report, render_report

    if fmt not in FORMATS:
        fail(f"--format {fmt!r} must be one of {', '.join(FORMATS)}")
    engine = _engine(config, now)
    try:
        text = render_report(authority_report(engine, breach_id), fmt)
    except BreachError as exc:
        fail(str(exc))
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}", style="green")
