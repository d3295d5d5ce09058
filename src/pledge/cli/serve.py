"""``pledge serve`` and ``pledge demo``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pledge.cli import app
from pledge.cli.common import ConfigOpt, console, fail, load_engine

if TYPE_CHECKING:
    from pledge.demo import Demo

#: seconds a worker process may take to start answering (pledge serve --workers)
WORKER_START_S = 60


def _run(engine, host: str, port: int) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    from pledge import logs
    from pledge.web.app import create_app

    logs.configure()  # JSON lines off a terminal; one per request, under its X-Request-ID
    web = create_app(engine)
    import gc

    # What startup built lives as long as the server: set it aside, so that the collector's
    # full passes never walk it again (the first one cost visitors 50-300 ms, all at once).
    gc.collect()
    gc.freeze()
    console.print(f"Pledge serves [bold]{engine.config.name}[/] at [link]http://{host}:{port}[/]")
    # uvicorn's own lines go through pledge.logs too; its access log is off: ours has the
    # route template, never a query string (which may hold a token)
    uvicorn.run(web, host=host, port=port, log_config=None, access_log=False)


def _run_workers(engine, config: Path | None, host: str, port: int, workers: int) -> None:  # type: ignore[no-untyped-def]
    """N worker processes, each building its own app (pledge.web.asgi.app_factory)."""
    import inspect
    import os
    import shutil
    import tempfile

    import uvicorn

    from pledge import logs
    from pledge.settings import default_config_path

    logs.configure()
    os.environ["PLEDGE_CONFIG"] = str((config or default_config_path()).resolve())
    made = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # /metrics sums every worker's counts
        made = tempfile.mkdtemp(prefix="pledge-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    name = engine.config.name
    engine.close()  # each worker builds its own
    console.print(f"Pledge serves [bold]{name}[/] at [link]http://{host}:{port}[/] with {workers} workers")
    extra: dict[str, Any] = {}
    if "timeout_worker_healthcheck" in inspect.signature(uvicorn.run).parameters:
        # a worker imports Pledge and builds its engine before it answers the supervisor's
        # pings; on a busy host that takes longer than uvicorn's 5 s, and it would be killed
        extra["timeout_worker_healthcheck"] = WORKER_START_S
    try:
        uvicorn.run("pledge.web.asgi:app_factory", factory=True, host=host, port=port, workers=workers,
                    log_config=None, access_log=False, **extra)
    finally:
        if made:
            shutil.rmtree(made, ignore_errors=True)


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, max=64, help=(
        "Worker processes; more than 1 runs each on pledge.web.asgi:app_factory."))] = 1,
) -> None:
    """Serve the privacy centre, admin console and JSON API for a config.

    Needs the deployment's keys (from `pledge keys init` or PLEDGE_*_KEY variables);
    without them it exits 2 and says how to make them. In production the store must be
    current (`pledge db upgrade`), else it exits 1 and says so; elsewhere it upgrades the store itself.

    Logs are JSON lines when stderr is not a terminal (PLEDGE_LOG_FORMAT=json|text,
    PLEDGE_LOG_LEVEL); /healthz, /readyz and /metrics are served beside the app
    (docs/observability.md)."""
    from pledge.cli.db import check_store

    engine = load_engine(config)  # loads the keys first: no keys, no server
    check_store(engine, config)  # production: a store behind this Pledge stops here (exit 1)
    if workers > 1:
        _run_workers(engine, config, host, port, workers)
    else:
        _run(engine, host, port)


@app.command()
def demo(
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8000,
    users: Annotated[int, typer.Option(help="Users to generate on first start.")] = 10_000,
    example: Annotated[str, typer.Option(help="Which example platform.")] = "omni-one",
) -> None:
    """Create the example platform and a console owner once (SQLite), then serve it at
    http://127.0.0.1:PORT; prints the pages and the owner's sign-in.

    In a source checkout the example runs in place (examples/NAME/); an installed Pledge
    copies it to ./pledge-demo/NAME/ first and keeps the demo's state there."""
    from pledge.demo import demo_config, prepare_demo
    from pledge.keys import KeysMissing

    try:
        config = demo_config(example)
    except LookupError as exc:
        fail(str(exc))
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
