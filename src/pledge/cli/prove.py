"""``pledge prove``: is each machine-checkable promise kept on the live data right now?"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from pledge.cli import app
from pledge.cli.common import ConfigOpt, NowOpt, console, err_console, fail, load_engine
from pledge.yamlio import LoadError

ProveFormat = Annotated[str, typer.Option("--format", help="Output format: text, json or html.")]
OutOpt = Annotated[Path | None, typer.Option("-o", "--output", help="Write the report to this file, not stdout.")]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who runs this, for the audit log and the run history.")]


@app.command("prove")
def prove_cmd(config: ConfigOpt = None, fmt: ProveFormat = "text", output: OutOpt = None, now: NowOpt = None,
              actor: ActorOpt = "cli") -> None:
    """Check every machine-checkable promise of the policy on the live data; store the run.

    Exit 0 when every promise that can be checked is kept, 1 when any is broken, 2 when
    the check could not be made (a database unreachable, a bad config)."""
    from pledge.prove import FORMATS, ProveError, render, run

    if fmt not in FORMATS:
        fail(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    engine = load_engine(config, now, distributed=False)
    try:
        with console.status("[bold]Checking the promises on the live data…", spinner="dots"):
            proof = run(engine, actor=actor)
    except (ProveError, LoadError) as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"Pledge's store could not be used: {str(exc).strip().splitlines()[0]}")
    finally:
        engine.close()
    text = render(proof, fmt)
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}")
        s = proof.summary
        err_console.print(f"{s['broken']} broken, {s['kept']} kept, {s['unknown']} cannot be checked on data; "
                          f"report written to {output} (run #{proof.id})")
    else:
        sys.stdout.write(text)
    raise typer.Exit(1 if proof.outcome == "broken" else 0)
