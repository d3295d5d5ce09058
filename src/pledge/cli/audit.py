"""``pledge audit``: read and check the keyed, hash-chained audit log; publish its head."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from pledge.audit import AuditHeadMissing, read_checkpoints
from pledge.cli import app
from pledge.cli.common import ConfigOpt, FormatOpt, console, err_console, fail, load_engine, print_json

audit_app = typer.Typer(help="The audit log: verify the chain, publish checkpoints, show entries.",
                        no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command()
def verify(config: ConfigOpt = None, fmt: FormatOpt = "text",
           checkpoint: Annotated[Path | None, typer.Option(
               "--checkpoint", help="Also check against the signed checkpoints in this file (catches a cut tail, "
                                    "a deleted head, a recomputed chain). Default: the deployment's "
                                    ".pledge/audit-checkpoints.jsonl when it exists.")] = None) -> None:
    """Walk the chain (HMAC under the audit keys) and the checkpoints; name every bad entry (exit 1 if any)."""
    from pledge.audit_anchor import default_path

    if fmt not in ("text", "json"):
        fail(f"--format {fmt!r}: use text or json")
    engine = load_engine(config)
    if checkpoint is not None and not checkpoint.is_file():
        fail(f"--checkpoint {checkpoint}: no such file")
    source = checkpoint or default_path(engine)
    docs = read_checkpoints(source) if source.is_file() else []
    problems = engine.audit.verify(docs, deployment=engine.config.name)
    where = f"{len(docs)} checkpoint(s) in {source}" if source.is_file() else "no checkpoint file"
    if fmt == "json":
        out: list[dict[str, Any]] = [{"entry": p.entry_id, "through": p.through, "problem": p.problem}
                                     for p in problems]
        print_json({"ok": not problems, "checkpoints": len(docs), "checkpoint_file": str(source) if docs else None,
                    "problems": out})
    elif problems:
        for p in problems:
            err_console.print(f"[bold red]{escape(str(p))}[/]", soft_wrap=True)
        err_console.print(f"audit log NOT intact: {len(problems)} problem(s), first bad entry {problems[0].entry_id} "
                          f"(checked against {where})", soft_wrap=True)
    else:
        console.print(f"audit log intact (checked against {where})", soft_wrap=True)
        if not docs:
            console.print("without a checkpoint, a tail cut off together with the head row cannot be seen: "
                          "run `pledge audit checkpoint`", soft_wrap=True)
    if problems:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint_cmd(config: ConfigOpt = None,
                   output: Annotated[Path | None, typer.Option(
                       "-o", "--output", help="Append to this file. Default: .pledge/audit-checkpoints.jsonl "
                                              "next to the config.")] = None,
                   email: Annotated[bool, typer.Option(
                       "--email", help="Also mail it to the policy's privacy contact (DPO, else controller).")] = False,
                   fmt: FormatOpt = "text") -> None:
    """Sign the newest entry (Ed25519) and append it to a file outside the store; run it from cron."""
    from pledge.audit_anchor import email_checkpoint, write_checkpoint

    if fmt not in ("text", "json"):
        fail(f"--format {fmt!r}: use text or json")
    engine = load_engine(config)
    try:
        doc, path = write_checkpoint(engine, output)
    except AuditHeadMissing as exc:
        err_console.print(f"[bold red]no checkpoint written:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from exc
    mailed: dict[str, str] | None = None
    if email:
        try:
            to, status = email_checkpoint(engine, doc)
        except ValueError as exc:
            fail(str(exc))
        mailed = {"to": to, "status": status}
    if fmt == "json":
        print_json({"checkpoint": doc, "file": str(path), "email": mailed})
    else:
        console.print(f"checkpoint of entry {doc['last_id']} appended to {path}", soft_wrap=True)
        console.print(json.dumps(doc, sort_keys=True, separators=(",", ":")), soft_wrap=True, markup=False)
        if mailed:
            console.print(f"email to {mailed['to']}: {mailed['status']}", soft_wrap=True)
    if mailed and mailed["status"] == "failed":
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
