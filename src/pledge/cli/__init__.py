"""The ``pledge`` command. Each feature adds its commands from its own module here."""

from __future__ import annotations

import importlib

import typer

from pledge.cli.common import PledgeGroup

app = typer.Typer(
    name="pledge",
    help="Pledge: a privacy policy as code, enforced in the platform's own databases.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=PledgeGroup,  # Pledge's errors become exit codes in one place (cli.common.EXIT_CODES)
)


#: Command modules, in the order their commands appear in ``pledge --help``.
#: Each feature adds its module name here.
COMMAND_MODULES = (
    "groups",
    "serve",
    "policy",
    "platform",
    "datamap",
    "rights_access",
    "rights_erase",
    "report",
    "breach",
    "consent",
    "retention",
    "prove",
    "requests",
    "mail",
    "audit",
    "admin",
    "keys",
    "db",
    "worker",
)


def _register() -> None:
    # Imported here so that each module can import ``app`` without a cycle.
    for name in COMMAND_MODULES:
        importlib.import_module(f"pledge.cli.{name}")


_register()


def main() -> None:
    from pledge.extras import MissingExtra
    from pledge.keys import KeysMissing
    from pledge.store import SchemaOutOfDate

    try:
        app()
    except MissingExtra as exc:  # an optional package (a database driver, Celery) is not installed
        from rich.markup import escape

        from pledge.cli.common import err_console

        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise SystemExit(1) from None
    except KeysMissing as exc:  # a command that reached for keys the deployment lacks
        from pledge.cli.common import err_console

        err_console.print(f"[bold red]error:[/] {exc}")
        raise SystemExit(2) from None
    except SchemaOutOfDate as exc:  # production: a command on a store behind this Pledge
        from pledge.cli.common import err_console

        err_console.print(f"[bold red]error:[/] {exc}")
        raise SystemExit(1) from None
