"""``pledge serve`` and ``pledge demo``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pledge.cli import app
from pledge.cli.common import ConfigOpt, console, fail, load_engine

if TYPE_CHECKING:
    from pledge.demo import Demo

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _run(engine, host: str, port: int) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    from pledge.web.app import create_app

    web = create_app(engine)
    console.print(f"Pledge serves [bold]{engine.config.name}[/] at [link]http://{host}:{port}[/]")
    uvicorn.run(web, host=host, port=port, log_level="warning")


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8000,
) -> None:
    """Serve the privacy centre, admin console and JSON API for a config.

    Needs the deployment's keys (from `pledge keys init` or PLEDGE_*_KEY variables);
    without them it exits 2 and says how to make them. In production the store must be
    current (`pledge db upgrade`), else it exits 1 and says so; elsewhere it upgrades the store itself."""
    from pledge.cli.db import check_store

    engine = load_engine(config)  # loads the keys first: no keys, no server
    check_store(engine, config)  # production: a store behind this Pledge stops here (exit 1)
    _run(engine, host, port)


@app.command()
def demo(
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8000,
    users: Annotated[int, typer.Option(help="Users to generate on first start.")] = 10_000,
    example: Annotated[str, typer.Option(help="Which example platform.")] = "omni-one",
) -> None:
    """Create the example platform and a console owner once (SQLite), then serve it at
    http://127.0.0.1:PORT; prints the pages and the owner's sign-in."""
    from pledge.demo import prepare_demo
    from pledge.keys import KeysMissing

    config = EXAMPLES / example / "pledge.yaml"
    if not config.exists():
        known = ", ".join(sorted(p.name for p in EXAMPLES.iterdir() if (p / "pledge.yaml").exists()))
        fail(f"--example {example!r}: no such example; choose one of {known}")
    try:
        run = prepare_demo(config, users=users)  # makes the demo's own random keys on first start
    except KeysMissing as exc:
        fail(str(exc))
    _welcome(run, config, port)
    _run(run.engine, "127.0.0.1", port)


def _shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _welcome(run: Demo, config: Path, port: int) -> None:
    import sys

    from rich.table import Table

    from pledge.demo import DEMO_PAGES, admin_file

    base = f"http://127.0.0.1:{port}"
    console.print(f"\n[bold]Pledge demo[/]: {run.engine.policy.controller.name} ({run.engine.config.name})")
    pages = Table(show_header=False, box=None, padding=(0, 2))
    for path, what in DEMO_PAGES:
        pages.add_row(f"[link={base}{path}]{base}{path}[/]", what)
    console.print(pages)
    source = run.engine.keys.source
    console.print(f"\n[bold]Keys[/]: {_shown_path(Path(source)) if source.endswith('.json') else source} "
                  "(random, made for this demo; never commit or share them)", highlight=False)
    admin = run.admin
    state = "created now" if admin.created else "as before"
    command = sys.argv[0] if Path(sys.argv[0]).name == "pledge" else "pledge"
    console.print(f"\n[bold]Admin console sign-in[/] ({state}; kept in {_shown_path(admin_file(run.engine))})")
    console.print(f"  email        {admin.email}", highlight=False)
    console.print(f"  password     {admin.password}", highlight=False)
    console.print(f"  TOTP secret  {admin.totp_secret}", highlight=False)
    console.print("  the same as a URI, for an authenticator app:")
    typer.echo(f"  {admin.otpauth_uri}")
    console.print("  the current code, for the demo only:")
    typer.echo(f"  {command} admin totp -c {_shown_path(config)} --email {admin.email}")
    console.print()
