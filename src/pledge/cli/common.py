"""What every command shares: the -c/--config option, the engine, output helpers, and
the one place where Pledge's errors become exit codes (:data:`EXIT_CODES`)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from pledge.engine import Engine
from pledge.errors import (
    Conflict,
    Failed,
    Forbidden,
    InvalidInput,
    NotConfigured,
    NotFound,
    PledgeError,
    Throttled,
    Unavailable,
    kind_of,
)
from pledge.keys import KeysMissing
from pledge.settings import ConfigError, Settings, default_config_path

console = Console()
err_console = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("-c", "--config", help="Deployment config (pledge.yaml). Default: $PLEDGE_CONFIG or ./pledge.yaml."),
]
FormatOpt = Annotated[str, typer.Option("--format", help="Output format: text or json.")]
NowOpt = Annotated[
    str | None, typer.Option("--now", help="Run as if it were this ISO 8601 time (tests and audits).")
]


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


#: The exit code for each kind of :class:`pledge.errors.PledgeError`: 2 when the command was
#: given something it cannot use (bad input, an unknown name, a deployment not set up), 1
#: when it could not be done (a state, a refusal, a failure). Anything else is a bug and
#: keeps its traceback.
EXIT_CODES: dict[type[PledgeError], int] = {
    InvalidInput: 2, NotFound: 2, NotConfigured: 2,
    Conflict: 1, Forbidden: 1, Throttled: 1, Unavailable: 1, Failed: 1, PledgeError: 1,
}


def exit_code_for(exc: PledgeError) -> int:
    kind = kind_of(exc)
    return EXIT_CODES[kind] if kind is not None else 1


class PledgeGroup(TyperGroup):
    """The ``pledge`` command group: a :class:`PledgeError` that a command did not handle
    itself ends the command with ``error: <message>`` and its :data:`EXIT_CODES` code."""

    def invoke(self, ctx: Any) -> Any:  # (typer's own click Context)
        try:
            return super().invoke(ctx)
        except PledgeError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(exit_code_for(exc)) from None


def parse_now(now: str | None) -> datetime | None:
    if now is None:
        return None
    try:
        moment = datetime.fromisoformat(now)
    except ValueError:
        fail(f"--now {now!r} is not an ISO 8601 date or time, e.g. 2026-01-31T12:00:00+00:00")
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment


def load_engine(config: Path | None, now: str | None = None, *, distributed: bool = True,
                keys: bool = True) -> Engine:
    """Build the engine for a command, turning config errors into a clear exit 2.

    With ``keys`` (the default) the deployment's keys are loaded first, and a deployment
    without them exits 2 with how to make them (``pledge keys init``); commands that only
    read the policy and the data map pass ``keys=False``.

    With a broker set, the command's work goes to ``pledge worker`` processes, as from the
    web app; a worker itself passes ``distributed=False`` and runs what it receives."""
    moment = parse_now(now)
    settings = Settings()
    jobs = None
    if distributed and settings.broker_url:
        from pledge.jobs import runner_for

        jobs = runner_for
    try:
        engine = Engine.from_config_file(config or default_config_path(), settings,
                                         clock=(lambda: moment) if moment else None, jobs=jobs)
    except ConfigError as exc:
        fail(str(exc))
    if keys:
        try:
            engine.keys  # noqa: B018 - load now: a deployment without keys stops here, cleanly
        except KeysMissing as exc:
            fail(str(exc))
    from pledge.cli.mail import deliver_at_end

    deliver_at_end(engine)  # the mail the command queues goes out as it ends (pledge.outbox)
    return engine


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def parse_identities(email: str | None, identity: list[str] | None) -> dict[str, str]:
    """``--email`` and repeated ``--identity KEY=VALUE`` to one mapping."""
    out: dict[str, str] = {}
    if email:
        out["email"] = email
    for item in identity or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            fail(f"--identity {item!r} must be KEY=VALUE, e.g. user_id=42 or phone=+48500100200")
        out[key.strip()] = value.strip()
    if not out:
        fail("give at least one identity: --email E or --identity KEY=VALUE")
    return out
