"""``pledge audit``: read and check the hash-chained audit log."""

from __future__ import annotations

from typing import Annotated

import typer

from pledge.cli import app
from pledge.cli.common import ConfigOpt, FormatOpt, console, err_console, fail, load_engine, print_json

audit_app = typer.Typer(help="The audit log: verify the chain, show entries.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command()
def verify(config: ConfigOpt = None, fmt: FormatOpt = "text") -> None:
    """Walk the chain; name every edited, removed or reordered entry (exit 1 if any)."""
    if fmt not in ("text", "json"):
        fail(f"--format {fmt!r}: use text or json")
    engine = load_engine(config)
    problems = engine.audit.verify()
    if fmt == "json":
        print_json({"ok": not problems, "problems": [{"entry": p.entry_id, "problem": p.problem}
                                                      for p in problems]})
    elif problems:
        for p in problems:
            err_console.print(f"[bold red]{p}[/]")
    else:
        console.print("audit log intact")
    if problems:
        raise typer.Exit(1)


@audit_app.command()
def show(config: ConfigOpt = None,
         limit: Annotated[int, typer.Option(min=1, help="How many of the newest entries.")] = 20,
         action: Annotated[str | None, typer.Option(help="Only this action, e.g. request.denied.")] = None,
         fmt: FormatOpt = "text") -> None:
    """The newest entries."""
    engine = load_engine(config)
    entries = engine.audit.entries(limit=limit, action=action)
    if fmt == "json":
        print_json(entries)
        return
    for e in entries:
        console.print(f"{e['id']:>6} {e['at']} {e['actor']:<20} {e['action']:<28} {e['target']}")
