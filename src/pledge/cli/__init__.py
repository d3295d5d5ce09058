"""The ``pledge`` command. Each feature adds its commands from its own module here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="pledge",
    help="Pledge: a privacy policy as code, enforced in the platform's own databases.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Imported here so that each module can import ``app`` without a cycle.
    from pledge.cli import groups, platform, policy, serve  # noqa: F401
    from pledge.cli import rights_access  # noqa: F401
    from pledge.cli import rights_erase  # noqa: F401
    from pledge.cli import datamap  # noqa: F401
    from pledge.cli import report  # noqa: F401


_register()


def main() -> None:
    app()
