"""``pledge rights access``, ``pledge rights portability`` and ``pledge datamap plan``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.tree import Tree

from pledge.cli.common import ConfigOpt, console, err_console, fail, load_engine, parse_identities, print_json
from pledge.cli.groups import datamap_app, rights_app
from pledge.connectors.base import ConnectorError
from pledge.context import Context
from pledge.datamap.graph import DatamapGraphError
from pledge.datamap.plan import Plan, PlanError, plan

EmailOpt = Annotated[str | None, typer.Option("--email", help="The person's email address.")]
IdentityOpt = Annotated[
    list[str] | None,
    typer.Option("--identity", help="KEY=VALUE identity (email, user_id, phone, external_id, person_tag, "
                                    "customer_id); repeat for several."),
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Where to write the zip package.")]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who runs this, for the audit log.")]


def _zip_path(out: Path) -> Path:
    if out.suffix.lower() != ".zip":
        fail(f"--out {out} must name a .zip file")
    if out.exists() and out.is_dir():
        fail(f"--out {out} is a directory; give a file name ending in .zip")
    return out


def _run(what: str, engine: Context, fn: Any) -> Any:
    """Run a rights function with a spinner, turning map and database errors into exit 2."""
    try:
        with console.status(f"[bold]{what}…", spinner="dots"):
            return fn()
    except (PlanError, DatamapGraphError, ConnectorError) as exc:
        fail(str(exc))
    finally:
        engine.close()


@rights_app.command("access")
def access_cmd(out: OutOpt, config: ConfigOpt = None, email: EmailOpt = None,
               identity: IdentityOpt = None, actor: ActorOpt = "cli") -> None:
    """Right of access (GDPR Art. 15, CCPA right to know): a zip with data.json, CSVs and index.html."""
    from pledge.rights.access import write_access_zip

    ids = parse_identities(email, identity)
    out = _zip_path(out)
    engine = load_engine(config)
    export = _run("Finding the person's data", engine,
                  lambda: write_access_zip(engine, ids, out, actor=actor))
    table = Table("collection", "rows", title=f"Access package: {out}")
    for coll, n in export.located.counts().items():
        table.add_row(coll, str(n))
    console.print(table)
    console.print(f"{export.located.total} rows in {len(export.located.counts())} collections; "
                  f"{len(export.information['purposes'])} purposes, "
                  f"{len(export.information['recipients'])} recipients stated in index.html")


@rights_app.command("portability")
def portability_cmd(out: OutOpt, config: ConfigOpt = None, email: EmailOpt = None,
                    identity: IdentityOpt = None, actor: ActorOpt = "cli",
                    send_to: Annotated[str | None, typer.Option(
                        "--send-to", help="Also POST the zip to this https:// endpoint of another organisation.")
                    ] = None) -> None:
    """Right to data portability (GDPR Art. 20): the data the person provided, as JSON and CSV."""
    from pledge.rights.portability import (
        PortabilityError,
        check_destination,
        send_export,
        write_portability_zip,
    )

    ids = parse_identities(email, identity)
    out = _zip_path(out)
    if send_to:
        try:
            check_destination(send_to)
        except PortabilityError as exc:
            fail(str(exc))
    engine = load_engine(config)
    export = _run("Collecting the data the person provided", engine,
                  lambda: write_portability_zip(engine, ids, out, actor=actor))
    console.print(f"Wrote {export.total} rows from {len(export.rows)} collections to {out}")
    if send_to:
        try:
            status = send_export(engine, ids, out.read_bytes(), send_to, actor=actor)
        except PortabilityError as exc:
            fail(str(exc), code=1)
        finally:
            engine.close()
        console.print(f"Sent to {send_to}: HTTP {status}")


def plan_tree(the_plan: Plan) -> Tree:
    """The route as a tree: each collection under the one its values come from."""
    root = Tree(f"[bold]identities:[/] {', '.join(the_plan.identities)}")
    nodes: dict[str, Tree] = {}
    for step in the_plan.steps:
        if step.kind == "identity":
            parent = root
            label = f"[green]{step.key}[/] where {step.match} = {step.source}"
        else:
            parent = nodes.get(step.source_collection or "", root)
            label = (f"[green]{step.key}[/] where {step.match} in {step.source}"
                     + (" [dim](derived identity)[/]" if step.kind == "derived" else ""))
        if step.key in nodes:
            label += " [dim](another path)[/]"
            parent.add(label)
        else:
            nodes[step.key] = parent.add(label)
    return root


@datamap_app.command("plan")
def plan_cmd(config: ConfigOpt = None, email: EmailOpt = None, identity: IdentityOpt = None,
             fmt: Annotated[str, typer.Option("--format", help="Output format: text or json.")] = "text") -> None:
    """Show the route a request takes from the identities to every collection (no database is read)."""
    if fmt not in ("text", "json"):
        fail(f"--format {fmt!r}: use text or json")
    ids = parse_identities(email, identity)
    engine = load_engine(config)
    try:
        the_plan = plan(engine.dataset, ids)
    except (PlanError, DatamapGraphError) as exc:
        fail(str(exc))
    if fmt == "json":
        print_json(the_plan.to_dict())
        return
    console.print(plan_tree(the_plan))
    table = Table("#", "collection", "match", "values from", "kind", title="Steps")
    for i, s in enumerate(the_plan.steps, 1):
        table.add_row(str(i), s.key, s.match, s.source, s.kind)
    console.print(table)
    if the_plan.unreachable:
        err_console.print(f"[yellow]Not reachable from {', '.join(the_plan.identities)}:[/] "
                          + ", ".join(the_plan.unreachable))
