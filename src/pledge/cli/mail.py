"""``pledge mail``: the outbox every email goes through (pledge.outbox).

Every command that queues mail also sends it as it ends (:func:`deliver_at_end`, from
:func:`pledge.cli.common.load_engine`) and says what could not go yet; that stays queued
and is retried by the web app's sender, Celery beat's ``pledge.mail``, or
``pledge mail send-due`` (from cron, where neither runs).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from pledge.cli import app
from pledge.cli.common import ConfigOpt, FormatOpt, console, err_console, fail, load_engine, print_json
from pledge.context import Context
from pledge.outbox import STATES

mail_app = typer.Typer(help="Mail: the outbox every email goes through (queued, sent, retried, failed).",
                       no_args_is_help=True)
app.add_typer(mail_app, name="mail")


def _current_context() -> Any:
    """The running command's click context (newer Typer vendors click as ``typer._click``)."""
    try:
        from typer._click.globals import get_current_context
    except ImportError:  # a Typer that uses the click package
        from click import get_current_context  # type: ignore[import-not-found,no-redef,unused-ignore]
    return get_current_context(silent=True)


def deliver_at_end(engine: Context) -> None:
    """When the running command ends (even by an error), send the mail it queued and say
    what is still queued."""
    ctx = _current_context()
    if ctx is None:
        return

    def finish() -> None:
        if not engine.started("outbox"):  # nothing was queued
            return
        try:
            left = engine.outbox.flush()
        except Exception as exc:  # noqa: BLE001 - never hide the command's own outcome
            err_console.print(f"[yellow]mail:[/] queued mail was not sent now ({type(exc).__name__}: {exc}); "
                              "`pledge mail send-due` sends it", soft_wrap=True)
            return
        if left:
            s = engine.settings
            err_console.print(f"[yellow]mail:[/] {left} message(s) could not be sent yet (SMTP {s.smtp_host}:"
                              f"{s.smtp_port}); they stay queued and are retried: `pledge mail send-due` sends "
                              "them, `pledge mail list` shows them", soft_wrap=True)

    ctx.call_on_close(finish)


@mail_app.command("send-due")
def send_due(
    config: ConfigOpt = None,
    waiting: Annotated[bool, typer.Option("--all", help="Also the messages still waiting for their retry time.")]
    = False,
    fmt: FormatOpt = "text",
) -> None:
    """Send the queued mail that is due, as the background sender does (run it from cron when no
    web app or worker runs); exit 1 when some could not be sent."""
    if fmt not in ("text", "json"):
        fail(f"--format {fmt!r}: use text or json")
    engine = load_engine(config)
    got = engine.outbox.deliver_due(waiting=waiting)
    counts = engine.outbox.counts()
    if fmt == "json":
        print_json({**got.as_dict(), "outbox": counts})
    else:
        console.print(f"sent {got.sent}, to retry {got.retrying}, given up {got.failed}"
                      + (" (the relay did not answer; the rest waits)" if got.stopped else ""))
        console.print("outbox: " + ", ".join(f"{counts[s]} {s}" for s in STATES))
    if got.stopped or got.retrying or got.failed:
        raise typer.Exit(1)


def _when(row: dict[str, Any]) -> str:
    if row["status"] == "sent" and row["sent_at"] is not None:
        return f"sent {row['sent_at']:%Y-%m-%d %H:%M:%S}"
    if row["status"] == "queued" and row["next_attempt_at"] is not None:
        return f"next try {row['next_attempt_at']:%Y-%m-%d %H:%M:%S}"
    return ""


@mail_app.command("list")
def list_(
    config: ConfigOpt = None,
    status: Annotated[str | None, typer.Option(help="Only this status: queued, sending, sent or failed.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many of the newest messages.")] = 50,
    fmt: FormatOpt = "text",
) -> None:
    """The newest messages of the outbox with their status, attempts and last error (never an
    address or a message: those are encrypted, and cleared once sent)."""
    if fmt not in ("text", "json"):
        fail(f"--format {fmt!r}: use text or json")
    if status is not None and status not in STATES:
        fail(f"--status {status!r}: use one of {', '.join(STATES)}")
    engine = load_engine(config)
    rows = engine.outbox.rows(status, limit)
    counts = engine.outbox.counts()
    if fmt == "json":
        print_json({"outbox": counts, "messages": rows})
        return
    console.print("outbox: " + ", ".join(f"{counts[s]} {s}" for s in STATES))
    if not rows:
        return
    t = Table()
    for col in ("id", "reference", "template", "status", "attempts", "when", "last error"):
        t.add_column(col)
    for r in rows:
        style = {"failed": "bold red", "queued": "yellow"}.get(r["status"], "")
        t.add_row(str(r["id"]), escape(r["reference"]), escape(r["template"]),
                  f"[{style}]{r['status']}[/]" if style else r["status"], str(r["attempts"]), _when(r),
                  escape((r["last_error"] or "")[:80]))
    console.print(t)
