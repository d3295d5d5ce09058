"""``pledge rights erase``, ``rectify``, ``restrict``, ``object`` and ``child-found``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from pledge.cli.common import ConfigOpt, console, fail, load_engine, parse_identities, print_json
from pledge.cli.groups import rights_app
from pledge.connectors.base import ConnectorError
from pledge.context import Context
from pledge.datamap.graph import DatamapGraphError
from pledge.datamap.plan import PlanError
from pledge.dataplane.masking import MaskingError
from pledge.rights.erasure_plan import ErasurePlanError
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


def _run(what: str, engine: Context, fn: Callable[[], T]) -> T:
    """Run with a spinner; map, database and input errors become a clear exit 2."""
    try:
        with console.status(f"[bold]{what}…", spinner="dots"):
            return fn()
    except (PlanError, DatamapGraphError, ConnectorError, ErasurePlanError, MaskingError, RectifyError,
            RightsInputError) as exc:
        fail(str(exc))
    finally:
        engine.close()


def _fields_text(e: dict[str, Any]) -> str:
    parts = [f"{k} → {v}" for k, v in e.get("fields", {}).items()]
    if e.get("detached"):
        parts.append("link cut: " + ", ".join(e["detached"]))
    if e.get("kept"):
        parts.append("kept: " + ", ".join(f"{k} ({why})" for k, why in e["kept"].items()))
    return "; ".join(parts)


def _erasure_tables(report: dict[str, Any]) -> None:
    titles = {"deleted": "Deleted", "masked": "Masked (these fields change)",
              "retained": "Retained as they are", "others": "Other people's rows, left as they are"}
    for outcome, title in titles.items():
        entries = report.get(outcome) or []
        if not entries:
            continue
        table = Table("table", "rows", "fields", "reason", title=f"{title}"
                      + (" — would be" if report["dry_run"] and outcome != "others" else ""))
        for e in entries:
            reason = e["reason"] + (f" [{e['law']}]" if e.get("law") else "")
            if e.get("until"):
                reason += f" (until {e['until']})"
            if e.get("shared") and outcome != "others":
                reason = "other people's row: " + reason if not reason.startswith("other people") else reason
            table.add_row(e["collection"], str(e["rows"]), _fields_text(e) or "-", reason)
        console.print(table)
    t = report["totals"]
    verb = "would be" if report["dry_run"] else "were"
    shared = sum(e["rows"] for e in report.get("shared", []))
    console.print(f"{t['deleted']} rows {verb} deleted, {t['masked']} masked, {t['retained']} retained "
                  + (f"({shared} of them other people's rows that only lose their link to the person) " if shared
                     else "")
                  + f"(request {report['request_id']}).")
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
    def run() -> dict[str, Any]:
        if plan or not engine.dataset.stores:
            return erase(engine, ids, plan=plan, request_id=request_id, actor=actor)
        from pledge.rights import blob_erasure

        # the person's files: planned from their rows first, deleted once the rows' deletion commits
        files = f"cli:{request_id or blob_erasure.identities_reference(engine, ids)}"
        located = blob_erasure.plan_person_rows(engine, files, ids)[1]  # the erasure plans from the same read
        out = erase(engine, ids, plan=plan, request_id=request_id, actor=actor, located=located)
        out["blobs"] = blob_erasure.after_commit(engine, files).as_dict()
        return out

    report = _run("Planning the erasure" if plan else "Erasing", engine, run)
    if fmt == "json":
        print_json(report)
    else:
        _erasure_tables(report)
        if "blobs" in report:
            console.print(f"{report['blobs']['gone']} file(s) deleted from the blob stores"
                          + (f"; {report['blobs']['failed']} not yet (run the same command again): "
                             + "; ".join(report["blobs"]["errors"]) if report["blobs"]["failed"] else "") + ".")


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


@rights_app.command("child-found")
def child_found_cmd(config: ConfigOpt = None, email: EmailOpt = None,
                    every: Annotated[bool, typer.Option(
                        "--all", help="Everyone the platform's birth dates show under the policy's minimum "
                                      "age.")] = False,
                    note: Annotated[str, typer.Option("--note", help="Details for the record.")] = "",
                    evidence: Annotated[str, typer.Option(
                        "--evidence", help="How you know the person is under age, when the platform holds no "
                                           "birth date (recorded in the audit log).")] = "",
                    fmt: FormatChoice = "text", actor: ActorOpt = "cli") -> None:
    """A child under the policy's minimum age: carry out the policy's age.on_child_found.

    ``delete`` erases the child's data at once when the platform's birth date proves the age
    (an officer's evidence alone waits for a second person's approval); ``suspend`` and
    ``require_parental_consent`` restrict every purpose. Someone the platform shows as old
    enough is refused.
    """
    from pledge.rights.children import ChildError, child_found, find_children
    from pledge.rights.requests import RequestError

    _check_format(fmt)
    if every == bool(email):
        fail("name one person with --email, or use --all")
    engine = load_engine(config)
    results: list[dict[str, Any]] = []
    try:
        with console.status("[bold]Acting on the policy's age promise…", spinner="dots"):
            for who in find_children(engine) if every else [str(email)]:
                results.append(child_found(engine, who, actor=actor, note=note, evidence=evidence).as_dict())
    except (ChildError, RequestError, ErasurePlanError, ConnectorError) as exc:
        fail(str(exc))
    finally:
        engine.close()
    if fmt == "json":
        print_json(results)
        return
    if not results:
        console.print("Nobody under the minimum age was found.")
    for r in results:
        done = (f"erasure {r['request_id']} ({r['state']})" if r["action"] == "delete"
                else f"restriction {r['restriction_id']} recorded")
        console.print(f"{r['action']}: {done}")
