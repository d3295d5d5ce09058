"""``pledge rights erase``, ``rectify``, ``restrict`` and ``object``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from pledge.cli.common import ConfigOpt, console, fail, load_engine, parse_identities, print_json
from pledge.cli.groups import rights_app
from pledge.connectors.base import ConnectorError
from pledge.datamap.graph import DatamapGraphError
from pledge.datamap.plan import PlanError
from pledge.engine import Engine
from pledge.rights.erasure_plan import ErasurePlanError
from pledge.rights.masking import MaskingError
from pledge.rights.rectify import RectifyError
from pledge.rights.restrict import RightsInputError

T = TypeVar("T")

EmailOpt = Annotated[str | None, typer.Option("--email", help="The person's email address.")]
RequiredEmail = Annotated[str, typer.Option("--email", help="The person's email address.")]
IdentityOpt = Annotated[
    list[str] | None,
    typer.Option("--identity", help="KEY=VALUE identity (email, user_id, phone, external_id, person_tag, "
                                    "customer_id); repeat for several."),
]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who runs this, for the audit log.")]
FormatChoice = Annotated[str, typer.Option("--format", help="Output format: text (tables) or json.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why, in the person's words (kept in the store).")]


def _check_format(fmt: str) -> None:
    if fmt not in ("text", "json"):
        fail(f"--format {fmt!r}: use text or json")


def _run(what: str, engine: Engine, fn: Callable[[], T]) -> T:
    """Run with a spinner; map, database and input errors become a clear exit 2."""
    try:
        with console.status(f"[bold]{what}…", spinner="dots"):
            return fn()
    except (PlanError, DatamapGraphError, ConnectorError, ErasurePlanError, MaskingError, RectifyError,
            RightsInputError) as exc:
        fail(str(exc))
    finally:
        engine.close()


def _erasure_tables(report: dict[str, Any]) -> None:
    titles = {"deleted": "Deleted", "masked": "Masked (anonymised)", "retained": "Retained"}
    for outcome, title in titles.items():
        entries = report[outcome]
        if not entries:
            continue
        table = Table("table", "rows", "fields", "reason", title=f"{title}"
                      + (" — would be" if report["dry_run"] else ""))
        for e in entries:
            fields = ", ".join(f"{k}: {v}" for k, v in e.get("fields", {}).items())
            if e.get("detached"):
                fields = ", ".join(filter(None, [fields, "unlinked: " + ", ".join(e["detached"])]))
            reason = e["reason"] + (f" [{e['law']}]" if e.get("law") else "")
            table.add_row(e["collection"], str(e["rows"]), fields or "-", reason)
        console.print(table)
    t = report["totals"]
    verb = "would be" if report["dry_run"] else "were"
    console.print(f"{t['deleted']} rows {verb} deleted, {t['masked']} masked, {t['retained']} retained "
                  f"(request {report['request_id']}).")
    for note in report.get("notes", []):
        console.print(f"[yellow]note:[/] {note}")


@rights_app.command("erase")
def erase_cmd(config: ConfigOpt = None, email: EmailOpt = None, identity: IdentityOpt = None,
              plan: Annotated[bool, typer.Option("--plan", help="Dry run: show exactly which rows in which "
                                                                  "tables would change; change nothing.")] = False,
              fmt: FormatChoice = "text", actor: ActorOpt = "cli",
              request_id: Annotated[str | None, typer.Option(
                  "--request-id", help="Name the request (to resume it); default: derived from the identities."
              )] = None) -> None:
    """Right to erasure (GDPR Art. 17, CCPA delete): delete, mask or retain every row about the person.

    Re-running the same request after a crash resumes it where it stopped.
    """
    from pledge.rights.erasure import erase

    _check_format(fmt)
    ids = parse_identities(email, identity)
    engine = load_engine(config)
    report = _run("Planning the erasure" if plan else "Erasing", engine,
                  lambda: erase(engine, ids, plan=plan, request_id=request_id, actor=actor))
    if fmt == "json":
        print_json(report)
    else:
        _erasure_tables(report)


def _parse_sets(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--set {item!r} must be FIELD=VALUE, e.g. name='Ann Smith' or users.phone=+48500100200")
        out[key.strip()] = value
    return out


@rights_app.command("rectify")
def rectify_cmd(sets: Annotated[list[str], typer.Option(
                    "--set", help="FIELD=VALUE to correct (field, collection.field or db.collection.field); "
                                  "repeat for several.")],
                config: ConfigOpt = None, email: EmailOpt = None, identity: IdentityOpt = None,
                plan: Annotated[bool, typer.Option("--plan", help="Validate and show old -> new; "
                                                                  "change nothing.")] = False,
                fmt: FormatChoice = "text", actor: ActorOpt = "cli") -> None:
    """Right to rectification (GDPR Art. 16, CCPA correct): update named fields, validated."""
    from pledge.rights.rectify import rectify

    _check_format(fmt)
    ids = parse_identities(email, identity)
    changes = _parse_sets(sets)
    engine = load_engine(config)
    report = _run("Rectifying", engine, lambda: rectify(engine, ids, changes, actor=actor, plan=plan))
    if fmt == "json":
        print_json(report)
        return
    table = Table("field", "row", "old", "new", title="Would change" if plan else "Changed")
    for c in report["changes"]:
        for row in c["changes"]:
            table.add_row(c["field"], str(row["id"]), str(row["old"]), str(row["new"]))
    console.print(table)
    console.print(f"{report['rows']} value(s) {'would be ' if plan else ''}changed.")


@rights_app.command("restrict")
def restrict_cmd(email: RequiredEmail, config: ConfigOpt = None,
                 purpose: Annotated[str | None, typer.Option(
                     "--purpose", help="Policy purpose key; default: every purpose.")] = None,
                 lift: Annotated[bool, typer.Option("--lift", help="Lift the restriction instead.")] = False,
                 reason: ReasonOpt = "", fmt: FormatChoice = "text", actor: ActorOpt = "cli") -> None:
    """Right to restriction (GDPR Art. 18): record it per person and purpose; the data stays untouched."""
    from pledge.rights.restrict import lift_restriction, restrict

    _check_format(fmt)
    engine = load_engine(config)
    if lift:
        result = _run("Lifting", engine, lambda: lift_restriction(engine, email, purpose, actor=actor))
        msg = f"lifted {len(result['lifted'])} restriction(s)"
    else:
        result = _run("Restricting", engine,
                      lambda: restrict(engine, email, purpose, reason=reason, actor=actor))
        msg = ("restriction recorded" if result["created"] else "already restricted") + \
            f" for {purpose or 'every purpose'}"
    if fmt == "json":
        print_json(result)
    else:
        console.print(msg)


@rights_app.command("object")
def object_cmd(email: RequiredEmail, purpose: Annotated[str, typer.Option(
                   "--purpose", help="Policy purpose key the person objects to.")],
               config: ConfigOpt = None,
               withdraw: Annotated[bool, typer.Option("--withdraw", help="Withdraw the objection.")] = False,
               reason: ReasonOpt = "", fmt: FormatChoice = "text", actor: ActorOpt = "cli") -> None:
    """Right to object (GDPR Art. 21): record it per person and purpose; the data stays untouched."""
    from pledge.rights.restrict import object_to, withdraw_objection

    _check_format(fmt)
    engine = load_engine(config)
    if withdraw:
        result = _run("Withdrawing", engine, lambda: withdraw_objection(engine, email, purpose, actor=actor))
        msg = f"withdrew {len(result['withdrawn'])} objection(s) to {purpose}"
    else:
        result = _run("Recording", engine, lambda: object_to(engine, email, purpose, reason=reason, actor=actor))
        msg = ("objection recorded" if result["created"] else "already objected") + f" to {purpose}"
        if not result["art21_applies"]:
            msg += " (note: this purpose's legal basis is not one Art. 21 covers)"
    if fmt == "json":
        print_json(result)
    else:
        console.print(msg)
