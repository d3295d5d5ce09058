"""Command groups that several feature modules add commands to."""

from __future__ import annotations

import typer

from pledge.cli import app

datamap_app = typer.Typer(help="The data map: check it, discover a database, plan a request.", no_args_is_help=True)
rights_app = typer.Typer(help="Data-subject rights: access, erasure, rectification, restriction, objection.",
                         no_args_is_help=True)

app.add_typer(datamap_app, name="datamap")
app.add_typer(rights_app, name="rights")
