"""``pledge serve`` and ``pledge demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pledge.cli import app
from pledge.cli.common import ConfigOpt, console, load_engine

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
    """Serve the privacy centre, admin console and JSON API for a config."""
    engine = load_engine(config)
    _ = engine.store  # migrate before the first request
    _run(engine, host, port)


@app.command()
def demo(
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8000,
    users: Annotated[int, typer.Option(help="Users to generate on first start.")] = 10_000,
    example: Annotated[str, typer.Option(help="Which example platform.")] = "omni-one",
) -> None:
    """Create the example platform once (SQLite), then serve it at http://127.0.0.1:PORT."""
    from pledge.demo import prepare_demo

    engine = prepare_demo(EXAMPLES / example / "pledge.yaml", users=users)
    _run(engine, "127.0.0.1", port)
