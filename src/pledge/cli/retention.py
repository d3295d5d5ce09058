"""``pledge retention plan|run|hold`` and ``pledge ledger replay``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pledge.cli import app
from pledge.cli.common import ConfigOpt, NowOpt, console, fail, load_engine, parse_identities, print_json
from pledge.connectors.base import ConnectorError
from pledge.context import Context
from pledge.datamap.plan import PlanError
from pledge.dataplane.masking import MaskingError
from pledge.rights.erasure_plan import ErasurePlanError

retention_app = typer.Typer(help="Retention: plan and run sweeps, place and release legal holds.",
                            no_args_is_help=True)
hold_app = typer.Typer(help="Legal holds: people or record sets no sweep may touch.", no_args_is_help=True)
ledger_app = typer.Typer(help="The erasure ledger: replay erasures after a backup restore.", no_args_is_help=True)
retention_app.add_typer(hold_app, name="hold")
app.add_typer(retention_app, name="retention")
app.add_typer(ledger_app, name="ledger")

FormatChoice = Annotated[str, typer.Option("--format", help="Output format: text (tables) or json.")]
MaxRowsOpt = Annotated[int | None, typer.Option("--max-rows", min=1, help="Stop after about this many rows.")]
UntilOpt = Annotated[str | None, typer.Option(
    "--until", help="Stop starting new batches after this wall-clock ISO time; the next run resumes.")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, max=100_000,
    help="Rows in the first batch; plain deletes grow it while batches finish fast (up to 100,000).")]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who runs this, for the audit log.")]


def _errors() -> tuple[type[Exception], ...]:
    from pledge.retention.holds import HoldError
    from pledge.retention.replay import ReplayError
    from pledge.retention.rules import RuleError

    return (RuleError, HoldError, ReplayError, PlanError, ConnectorError, ErasurePlanError, MaskingError)


def _format(fmt: str) -> None:
    if fmt not in ("text", "json"):
        fail(f"--format {fmt!r}: use text or json")


def _time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not an ISO 8601 date or time, e.g. 2026-01-31 or 2026-01-31T12:00:00+00:00")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _targets_table(targets: list[dict[str, Any]], dry: bool) -> Table:
    table = Table("rule", "collection", "action", "rows", "oldest" if dry else "cascade",
                  "sample ids" if dry else "held", title="Retention plan (dry run)" if dry else "Retention sweep")
    for t in targets:
        if dry:
            table.add_row(t["rule"], t["collection"], t["erasure"], str(t["rows"]), str(t["oldest"] or "—"),
                          ", ".join(map(str, t["sample_ids"])) or "—")
        else:
            cascade = ", ".join(f"{k} {v}" for k, v in t["cascade"].items()) or "—"
            table.add_row(t["rule"], t["collection"], t["action"], str(t["rows"]), cascade, str(t["held"]))
    return table


@retention_app.command("plan")
def plan_cmd(config: ConfigOpt = None, now: NowOpt = None, fmt: FormatChoice = "text") -> None:
    """Dry run: per rule and table, the rows a sweep would touch, the oldest and sample ids."""
    _format(fmt)
    from pledge.retention import sweep

    engine = load_engine(config, now)
    try:
        with console.status("[bold]Planning the sweep…", spinner="dots"):
            report = sweep.plan(engine)
    except _errors() as exc:
        fail(str(exc))
    finally:
        engine.close()
    if fmt == "json":
        print_json(report)
        return
    console.print(_targets_table(report["targets"], dry=True))
    console.print(f"{report['total_rows']} row(s) would be acted on at {report['now']} "
                  f"({report['holds']} active hold(s)).")


@retention_app.command("run")
def run_cmd(config: ConfigOpt = None, now: NowOpt = None, max_rows: MaxRowsOpt = None, until: UntilOpt = None,
            batch_size: BatchOpt = 1000, fmt: FormatChoice = "text", actor: ActorOpt = "cli") -> None:
    """Run a sweep: batched, checkpointed (a killed run resumes), idempotent."""
    _format(fmt)
    from pledge.retention import sweep

    deadline = _time(until, "--until")
    engine = load_engine(config, now)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=fmt == "json", disable=fmt == "json") as bar:
            tasks: dict[str, Any] = {}

            def progress(key: str, done: int, expected: int) -> None:
                if key not in tasks:
                    tasks[key] = bar.add_task(key, total=max(expected, 1))
                bar.update(tasks[key], completed=min(done, max(expected, 1)))

            report = sweep.run(engine, max_rows=max_rows, until=deadline, progress=progress,
                               batch_size=batch_size, actor=actor)
    except _errors() as exc:
        fail(str(exc))
    finally:
        engine.close()
    if fmt == "json":
        print_json(report)
        return
    console.print(_targets_table(report["targets"], dry=False))
    state = "resumed and finished" if report["resumed"] and report["status"] == "done" else report["status"]
    console.print(f"Sweep {state}: {report['total_rows']} row(s) in {report['seconds']} s "
                  f"({report['rows_per_second'] or 0} rows/s)."
                  + (f" Stopped by {report['stopped_by']}; run again to continue." if report["stopped_by"] else ""))


# -- holds --------------------------------------------------------------------------------------------
@hold_app.command("add")
def hold_add(
    config: ConfigOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="Why the data must be kept (e.g. a court case).")] = "",
    expires: Annotated[str, typer.Option("--expires", help="ISO date or time when the hold ends.")] = "",
    email: Annotated[str | None, typer.Option("--email", help="Hold a person by email.")] = None,
    identity: Annotated[list[str] | None, typer.Option(
        "--identity", help="Hold a person by KEY=VALUE identity (user_id=42); repeatable.")] = None,
    collection: Annotated[str | None, typer.Option(
        "--collection", help="Hold a record set in db.collection (with --where or --ids).")] = None,
    where: Annotated[str | None, typer.Option("--where", help="Condition on the collection, "
                                              "e.g. \"status = 'open' AND amount > 100\".")] = None,
    ids: Annotated[str | None, typer.Option("--ids", help="Comma-separated primary keys.")] = None,
    now: NowOpt = None, actor: ActorOpt = "cli", fmt: FormatChoice = "text",
) -> None:
    """Place a legal hold on a person or a record set, with a reason and an expiry."""
    _format(fmt)
    from pledge.retention.holds import Holds

    if not reason.strip():
        fail("--reason is required: say why the data must be kept")
    expiry = _time(expires or None, "--expires")
    if expiry is None:
        fail("--expires is required: every hold ends (ISO date, e.g. 2030-01-01)")
    if collection is None and where is None and ids is None:
        people = parse_identities(email, identity)
        engine = load_engine(config, now)
    else:
        if collection is None or (where is None) == (ids is None):
            fail("a record-set hold needs --collection and exactly one of --where or --ids")
        engine = load_engine(config, now)
    try:
        holds = Holds(engine)
        if collection is None:
            made = holds.add_person(people, reason=reason, expires_at=expiry, actor=actor)
        else:
            id_list = [s.strip() for s in (ids or "").split(",") if s.strip()] if ids is not None else None
            values: list[Any] | None = [int(s) if s.isdigit() else s for s in id_list] if id_list else None
            if ids is not None and not values:
                fail("--ids lists no keys")
            made = [holds.add_records(collection, reason=reason, expires_at=expiry, condition=where, ids=values,
                                      actor=actor)]
    except _errors() as exc:
        fail(str(exc))
    finally:
        engine.close()
    if fmt == "json":
        print_json({"holds": made})
    else:
        console.print(f"Hold(s) placed: {', '.join(map(str, made))} (until {expiry.isoformat()}).")


@hold_app.command("list")
def hold_list(config: ConfigOpt = None, all_: Annotated[bool, typer.Option(
        "--all", help="Include released and expired holds.")] = False,
              now: NowOpt = None, fmt: FormatChoice = "text") -> None:
    """List legal holds (active ones unless --all)."""
    _format(fmt)
    from pledge.retention.holds import Holds

    engine = load_engine(config, now)
    try:
        holds = Holds(engine).list(include_inactive=all_)
        at = engine.now()
    finally:
        engine.close()
    if fmt == "json":
        print_json([{**h.as_dict(), "active": h.active(at)} for h in holds])
        return
    table = Table("id", "kind", "what", "reason", "expires", "state", title="Legal holds")
    for h in holds:
        what = f"{h.subject_kind} (hashed)" if h.kind == "person" else \
            f"{h.collection} {h.condition or ''}{' ids ' + ','.join(map(str, h.ids)) if h.ids else ''}"
        state = "released" if h.released_at else ("active" if h.active(at) else "expired")
        table.add_row(str(h.id), h.kind, what, h.reason, str(h.expires_at), state)
    console.print(table if holds else "No holds.")


@hold_app.command("release")
def hold_release(hold_id: Annotated[int, typer.Argument(help="The hold's id (see hold list).")],
                 config: ConfigOpt = None, actor: ActorOpt = "cli") -> None:
    """Release a legal hold now; the next sweep may act on its rows."""
    from pledge.retention.holds import Holds

    engine = load_engine(config)
    try:
        Holds(engine).release(hold_id, actor=actor)
    except _errors() as exc:
        fail(str(exc))
    finally:
        engine.close()
    console.print(f"Hold {hold_id} released.")


# -- ledger ------------------------------------------------------------------------------------------
@ledger_app.command("replay")
def replay_cmd(
    config: ConfigOpt = None,
    since: Annotated[str, typer.Option("--since", help="When the restored backup was taken (ISO date or time).")] = "",
    force: Annotated[bool, typer.Option("--force", help="Replay even when --since is outside the policy's "
                                        "backup window.")] = False,
    now: NowOpt = None, fmt: FormatChoice = "text",
) -> None:
    """Re-apply the erasures recorded since a backup was taken, after restoring it."""
    _format(fmt)
    from pledge.retention.replay import replay

    moment = _time(since or None, "--since")
    if moment is None:
        fail("--since is required: the time the restored backup was taken")
    engine: Context = load_engine(config, now)
    try:
        with console.status("[bold]Replaying the erasure ledger…", spinner="dots"):
            report = replay(engine, moment, force=force)
    except _errors() as exc:
        fail(str(exc))
    finally:
        engine.close()
    if fmt == "json":
        print_json(report)
        return
    for w in report["warnings"]:
        console.print(f"[yellow]warning:[/] {w}")
    console.print(f"Replayed: {report['rectified']} rectification(s) re-applied; "
                  f"{report['people']} identity value(s) found again and erased "
                  f"({sum(report['erased'].values())} row(s)); the sweep acted on "
                  f"{report['sweep']['total_rows']} row(s).")
    for note in report.get("notes", []):
        console.print(f"[yellow]not re-applied:[/] {note}")
