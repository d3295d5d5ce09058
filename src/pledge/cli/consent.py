"""``pledge consent``: marketing email that only reaches people who may get it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pledge.cli import app
from pledge.cli.common import ConfigOpt, NowOpt, console, fail, load_engine, print_json

consent_app = typer.Typer(help="Consent: marketing email sent only with a person's consent, each with one-click "
                               "unsubscribe.", no_args_is_help=True)
app.add_typer(consent_app, name="consent")


@consent_app.command("send-marketing")
def send_marketing_cmd(
    purpose: Annotated[str, typer.Option("--purpose", help="The policy's marketing purpose, e.g. marketing_email.")],
    subject: Annotated[str, typer.Option("--subject", help="The email's subject line.")],
    body: Annotated[Path, typer.Option("--body", exists=True, dir_okay=False,
                                       help="A UTF-8 text file with the email's text.")],
    reference: Annotated[str, typer.Option(
        "--reference", help="The mailing's name; a re-run with the same name sends only what is missing.")],
    to: Annotated[list[str] | None, typer.Option(
        "--to", help="Send to this address only (repeat for several); default: everyone in the data map's "
                     "collection of people.")] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="en or pl; default: the policy's language.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Stop after this many new emails.")] = None,
    config: ConfigOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="Output format: text or json.")] = "text",
    actor: Annotated[str, typer.Option("--actor", help="Who sends it, for the audit log.")] = "cli",
    now: NowOpt = None,
) -> None:
    """Send a marketing email to the people the policy lets you reach for that purpose.

    Each address is checked with the purpose decision first (consent, withdrawal, objection,
    restriction, age, closed account); each email carries the person's signed one-click
    unsubscribe link (RFC 8058 List-Unsubscribe headers and a link in the text).
    """
    from pledge.consent.mailing import MarketingError, send_marketing

    if fmt not in ("text", "json"):
        fail(f"--format {fmt!r}: use text or json")
    engine = load_engine(config, now)
    try:
        with console.status("[bold]Sending…", spinner="dots"):
            outcome = send_marketing(engine, purpose, subject, body.read_text(encoding="utf-8"),
                                     reference=reference, to=to, lang=lang, limit=limit, actor=actor)
    except MarketingError as exc:
        fail(str(exc))
    finally:
        engine.close()
    if fmt == "json":
        print_json(outcome.as_dict())
        return
    refused = ", ".join(f"{code}: {n}" for code, n in outcome.skipped_by.items()) or "none"
    console.print(f"{outcome.sent} sent, {outcome.failed} failed, {outcome.skipped} not sent "
                  f"(decisions: {refused}).")
    if outcome.failed:
        raise typer.Exit(1)
