"""``pledge datamap check`` and ``pledge datamap discover``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from pledge.cli.common import ConfigOpt, console, err_console, fail, load_engine, print_json
from pledge.cli.groups import datamap_app
from pledge.datamap.check import Finding, check_dataset, has_errors
from pledge.datamap.discover import DEFAULT_SAMPLE, DiscoveryReport, discover
from pledge.datamap.load import dataset_to_yaml
from pledge.datamap.model import Dataset
from pledge.extras import create_engine
from pledge.yamlio import LoadError


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format: text or json.")]


def _dataset_or_exit(engine: Any, output: OutputFormat) -> Dataset:
    try:
        dataset: Dataset = engine.dataset
    except LoadError as exc:
        if output is OutputFormat.json:
            print_json({"ok": False, "unusable": True, "file": exc.file,
                        "problems": [{"file": p.file, "line": p.line, "column": p.column, "path": p.path,
                                      "message": p.message, "expected": p.expected} for p in exc.problems]})
            raise typer.Exit(2) from None
        err_console.print(f"[bold red]error:[/] cannot use the dataset {escape(exc.file)}:")
        for problem in exc.problems:
            err_console.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    return dataset


def _print_findings(findings: list[Finding]) -> None:
    """One finding per entry: severity, file:line of the declaration, path and code, then the
    message (with the fix) on its own lines, so long messages never squeeze a table."""
    if not findings:
        console.print("[green]ok[/]: the dataset matches the live databases")
        return
    for f in findings:
        colour = "red" if f.severity == "error" else "yellow"
        where = f"{escape(f.where)}: " if f.where else ""
        code = escape(f"[{f.code}]")
        console.print(f"[{colour}]{f.severity}[/]: {where}[bold]{escape(f.path)}[/] {code}", soft_wrap=True)
        console.print(f"  {escape(f.message)}", soft_wrap=True, highlight=False)
    errors = sum(1 for f in findings if f.severity == "error")
    console.print(f"{errors} error(s), {len(findings) - errors} warning(s)")


@datamap_app.command("check")
def check_command(config: ConfigOpt = None, output: FormatOption = OutputFormat.text) -> None:
    """Validate the dataset against the live databases: unknown tables and columns, type
    mismatches, unknown references, unreachable collections and reference cycles.

    Exit status: 0 no errors (warnings allowed), 1 errors found, 2 the input is unusable.
    """
    engine = load_engine(config, keys=False)
    try:
        dataset = _dataset_or_exit(engine, output)
        with err_console.status("reading the live schema") as status:
            findings = check_dataset(dataset, engine.platform_engine,
                                     progress=lambda name: status.update(f"reading database {name}"))
            if dataset.stores:  # every blob store can be reached (#16)
                from pledge.datamap.blob_discover import check_stores

                status.update("listing the blob stores")
                findings += check_stores(dataset, engine.blobs.get)
    finally:
        engine.close()
    order = {"error": 0, "warning": 1}
    findings.sort(key=lambda f: (order[f.severity], f.path, f.code))
    if output is OutputFormat.json:
        print_json({"ok": not has_errors(findings), "dataset": str(engine.config.dataset),
                    "findings": [f.as_dict() for f in findings]})
    else:
        _print_findings(findings)
    raise typer.Exit(1 if has_errors(findings) else 0)


def _connect(url: str) -> SAEngine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        fail(f"--url {url!r} is not a database URL, e.g. sqlite:///platform.db or "
             "postgresql+psycopg://user@host/db")
    if parsed.drivername.startswith("sqlite"):
        db = parsed.database or ""
        if db in ("", ":memory:"):
            fail("--url names an in-memory SQLite database, which is always empty; give a file")
        if not Path(db).exists():
            fail(f"--url: the SQLite file {db} does not exist")
    eng = create_engine(parsed)  # a driver that is not installed: MissingExtra names its extra
    try:
        with eng.connect():
            pass
    except (SQLAlchemyError, ImportError) as exc:
        fail(f"cannot connect to {parsed.render_as_string(hide_password=True)}: "
             f"{str(exc).splitlines()[0]}")
    return eng


def _print_discovery(report: DiscoveryReport) -> None:
    db = report.proposed.databases[0]
    fks = sum(1 for _ in report.proposed.references())
    console.print(f"[bold]{len(db.collections)}[/] tables, "
                  f"{sum(len(c.fields) for c in db.collections)} columns, {fks} foreign key reference(s)")
    if report.personal:
        table = Table(title="Columns that look personal")
        for col in ("column", "category", "found by", "why") + (("declared",) if report.compared else ()):
            table.add_column(col, overflow="fold")
        for p in report.personal:
            row = [escape(p.path), p.category, p.reason, escape(p.detail)]
            if report.compared:
                row.append("[green]yes[/]" if p.declared else "[red]no[/]")
            table.add_row(*row)
        console.print(table)
    else:
        console.print("no column looks personal")
    if report.compared:
        if report.undeclared:
            console.print(f"[bold red]{len(report.undeclared)} undeclared personal column(s)[/]: "
                          + ", ".join(escape(p.path) for p in report.undeclared))
        else:
            console.print("[green]every personal-looking column is declared in the dataset[/]")


@datamap_app.command("discover")
def discover_command(
    url: Annotated[str | None, typer.Option(
        "--url", help="The database to introspect (SQLAlchemy URL). Default: the config's platform_url.")] = None,
    config: ConfigOpt = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write the proposed dataset to this YAML file.")] = None,
    database: Annotated[str | None, typer.Option(
        "--database", help="The dataset database name this URL is. Default: the config dataset's only "
        "database, else main.")] = None,
    sample: Annotated[int, typer.Option(
        "--sample", min=0, help="Rows sampled per table to recognise personal values (0: names only).")]
    = DEFAULT_SAMPLE,
    output: FormatOption = OutputFormat.text,
) -> None:
    """Introspect a database: propose a dataset (tables, columns, types, primary and foreign
    keys) and list columns that look personal, by name and by sampled values.

    With -c, compare with the config's dataset and report undeclared personal data.
    Exit status: 0 done, 1 undeclared personal data found (with -c), 2 unusable input.
    """
    compare: Dataset | None = None
    places: list[Any] = []
    if config is not None:
        engine = load_engine(config, keys=False)
        compare = _dataset_or_exit(engine, output)
        places = _blob_places(engine, compare)
        url = url or engine.config.platform_url
        if database is None and len(compare.databases) == 1:
            database = compare.databases[0].name
        engine.close()
    if url is None:
        fail("give --url URL (or -c CONFIG to use its platform_url)")
    db_name = database or "main"
    if compare is not None and not any(d.name == db_name for d in compare.databases):
        fail(f"--database {db_name!r} is not a database of the dataset "
             f"({', '.join(d.name for d in compare.databases)})")
    if out is not None and out.exists() and out.is_dir():
        fail(f"--out {out} is a directory; give a file name such as dataset.yaml")
    sa_engine = _connect(url)
    try:
        with err_console.status("introspecting") as status:
            report = discover(sa_engine, database=db_name, compare=compare, sample=sample,
                              progress=lambda t: status.update(f"sampling table {t}"))
    except SQLAlchemyError as exc:
        fail(f"cannot read the database: {str(exc).splitlines()[0]}")
    finally:
        sa_engine.dispose()
    if out is not None:
        try:
            out.write_text(dataset_to_yaml(report.proposed, declare_discovered=True), encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}")
    if output is OutputFormat.json:
        print_json({**report.as_dict(), "out": str(out) if out else None,
                    "undeclared_blobs": [p.as_dict() for p in places]})
    else:
        _print_discovery(report)
        _print_places(places, compare)
        if out is not None:
            console.print(f"proposed dataset written to {escape(str(out))}")
    raise typer.Exit(1 if report.undeclared or places else 0)


def _blob_places(engine: Any, dataset: Dataset) -> list[Any]:
    """Buckets, prefixes and files of the stores that no collection declares (#16)."""
    if not dataset.stores:
        return []
    from pledge.blobs.base import BlobError
    from pledge.datamap.blob_discover import undeclared_places

    try:
        return undeclared_places(dataset, engine.blobs.get)
    except BlobError as exc:
        fail(f"cannot list a blob store: {exc}")


def _print_places(places: list[Any], dataset: Dataset | None) -> None:
    if dataset is None or not dataset.stores:
        return
    if not places:
        console.print("[green]every folder and bucket of the blob stores is declared[/]")
        return
    console.print(f"[bold red]{len(places)} undeclared place(s) in the blob stores[/]:")
    for p in places:
        console.print(f"  {p.kind} [bold]{escape(p.where)}[/] {escape(p.detail)}", soft_wrap=True)
