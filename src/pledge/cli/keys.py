"""``pledge keys``: make, rotate and inspect a deployment's keys (never printing them)."""

from __future__ import annotations

from typing import Annotated

import typer

from pledge.cli import app
from pledge.cli.common import ConfigOpt, console, fail, load_engine
from pledge.keys import (
    PURPOSES,
    KeysMissing,
    keys_file_for,
    load_keyring,
    read_keys_file,
    rotate_keys_file,
    write_keys_file,
)
from pledge.settings import Settings

keys_app = typer.Typer(help="The deployment's keys: signing, subject, audit and encryption.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _env_var(purpose: str) -> str:
    return f"PLEDGE_{PURPOSES[purpose].upper()}"


def _from_env(settings: Settings, purpose: str) -> list[str]:
    """The keys the environment gives ``purpose`` (through Settings), or none."""
    secret = getattr(settings, PURPOSES[purpose])
    value = secret.get_secret_value() if secret is not None else ""
    return [k for k in value.split(",") if k.strip()]


@keys_app.command("init")
def init(config: ConfigOpt = None) -> None:
    """Write fresh random keys for every purpose to the deployment's key file (mode 0600).

    The file is <config dir>/.pledge/keys.json (or $PLEDGE_KEYS_FILE); an existing one is
    never overwritten. Back it up: without it, encrypted data cannot be read."""
    engine = load_engine(config, keys=False, distributed=False)
    path = keys_file_for(engine.state_dir, engine.settings)
    try:
        write_keys_file(path)
    except FileExistsError:
        fail(f"{path} already exists; it is never overwritten (rotate a key with `pledge keys rotate`)")
    console.print(f"wrote {path} (mode 0600): signing, subject, audit and encryption keys")
    overridden = [_env_var(p) for p in PURPOSES if _from_env(engine.settings, p)]
    if overridden:
        console.print(f"[yellow]note:[/] {', '.join(overridden)} set in the environment win over the file")


@keys_app.command("rotate")
def rotate(
    purpose: Annotated[str, typer.Option("--purpose", help="signing, subject, audit or encryption.")],
    config: ConfigOpt = None,
) -> None:
    """Put a fresh key in front for one purpose; the older keys stay to verify and decrypt.

    New signatures, keyed HMACs and encryption use the new key at once. Remove an old key
    from the file by hand once nothing made with it is needed any more."""
    if purpose not in PURPOSES:
        fail(f"--purpose {purpose!r} is not one of {', '.join(PURPOSES)}")
    engine = load_engine(config, keys=False, distributed=False)
    path = keys_file_for(engine.state_dir, engine.settings)
    if not path.exists():
        fail(f"{path} does not exist; make it with `pledge keys init`")
    try:
        count = rotate_keys_file(path, purpose)
    except KeysMissing as exc:
        fail(str(exc))
    console.print(f"{purpose}: a new key is in front in {path} ({count} keys, newest first)")
    if _from_env(engine.settings, purpose):
        console.print(f"[yellow]note:[/] {_env_var(purpose)} is set and wins over the file: rotate it there "
                      "(a new key first, comma separated)")


@keys_app.command("show")
def show(config: ConfigOpt = None) -> None:
    """Where each purpose's keys come from and how many there are (never the keys)."""
    engine = load_engine(config, keys=False, distributed=False)
    path = keys_file_for(engine.state_dir, engine.settings)
    from_file: dict[str, str] = {}
    problem = ""
    if path.exists():
        try:
            from_file = read_keys_file(path)
        except KeysMissing as exc:
            problem = str(exc)
    for purpose in PURPOSES:
        env = _from_env(engine.settings, purpose)
        if env:
            count, where = len(env), f"environment ({_env_var(purpose)})"
        elif from_file.get(purpose, "").strip():
            count, where = len([k for k in from_file[purpose].split(",") if k.strip()]), str(path)
        else:
            count, where = 0, "[red]missing[/]"
        console.print(f"{purpose:<11} {where}" + (f", {count} key{'s' if count != 1 else ''}" if count else ""))
    if problem:
        fail(problem)
    try:
        load_keyring(engine.settings, engine.state_dir)
    except KeysMissing as exc:
        fail(str(exc))
