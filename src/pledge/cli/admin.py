"""``pledge admin``: console users and API keys."""

from __future__ import annotations

from typing import Annotated

import typer

from pledge.admins import ROLES, SCOPES, AdminError
from pledge.cli import app
from pledge.cli.common import ConfigOpt, console, err_console, fail, load_engine

admin_app = typer.Typer(help="Admin console users, API keys and the platform token secret.",
                        no_args_is_help=True)
app.add_typer(admin_app, name="admin")


@admin_app.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(help="The user's email (their login).")],
    config: ConfigOpt = None,
    role: Annotated[str, typer.Option(help="owner, privacy_officer or viewer.")] = "owner",
    password: Annotated[str | None, typer.Option(
        envvar="PLEDGE_ADMIN_PASSWORD", help="At least 12 characters (asked for when not given).")] = None,
) -> None:
    """Make a console user; prints the TOTP provisioning URI for their authenticator app."""
    if role not in ROLES:
        fail(f"--role {role!r}: choose one of {', '.join(ROLES)}")
    engine = load_engine(config)
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user, uri = engine.admins.create_user(email, role, password=password)
    except AdminError as exc:
        fail(str(exc))
    console.print(f"created {user.role} {user.email} (id {user.id})")
    console.print("Add this to an authenticator app (TOTP):")
    typer.echo(uri)


@admin_app.command("unlock")
def unlock(
    email: Annotated[str | None, typer.Option(help="The account (its email) whose sign-in is locked or waiting.")] = None,
    address: Annotated[str | None, typer.Option(help="A client address whose sign-ins are locked or waiting.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Lift a console sign-in lockout or wait early (for an account, an address, or both); audited."""
    if not email and not address:
        fail("name what to unlock: --email and/or --address")
    engine = load_engine(config)
    if not engine.admins.unlock(email=email, address=address):
        fail("nothing to unlock: no failed sign-ins are counted for " +
             " or ".join(x for x in (email, address) if x))
    console.print("unlocked: the next sign-in is checked as usual")


@admin_app.command("create-api-key")
def create_api_key(
    scope: Annotated[list[str], typer.Option("--scope", help="Repeat for each: " + ", ".join(SCOPES))],
    config: ConfigOpt = None,
    name: Annotated[str, typer.Option(help="Who uses the key.")] = "api",
) -> None:
    """Make a scoped API key for a machine client; it is shown once."""
    engine = load_engine(config)
    try:
        key = engine.admins.create_api_key(name, scope)
    except AdminError as exc:
        fail(str(exc))
    typer.echo(key)


@admin_app.command("revoke-api-key")
def revoke_api_key(prefix: Annotated[str, typer.Argument(help="The key's prefix (after plk_).")],
                   config: ConfigOpt = None) -> None:
    """Revoke an API key."""
    engine = load_engine(config)
    if not engine.admins.revoke_api_key(prefix):
        fail(f"no active API key with prefix {prefix!r}")
    console.print("revoked")


@admin_app.command("platform-secret")
def platform_secret(config: ConfigOpt = None) -> None:
    """The shared secret the platform signs sign-in tokens (JWT HS256, aud "pledge") with."""
    engine = load_engine(config)
    typer.echo(engine.requests.verifier.platform_secret())


@admin_app.command("totp")
def totp(
    email: Annotated[str, typer.Option(help="The console user's email.")],
    config: ConfigOpt = None,
) -> None:
    """Print a console user's current 6-digit TOTP code (development only: for the demo)."""
    import pyotp

    engine = load_engine(config)
    if engine.settings.environment != "development":
        fail(f"refused: PLEDGE_ENVIRONMENT is {engine.settings.environment}; printing two-factor codes "
             "is for the demo only (environment development)")
    user = next((u for u in engine.admins.users() if u.email == email.strip().lower()), None)
    if user is None:
        fail(f"no admin user {email!r}; see `pledge admin create-user --help`")
    code = pyotp.TOTP(engine.admins.totp_secret(user.id))
    left = code.interval - int(engine.now().timestamp()) % code.interval
    typer.echo(code.at(engine.now()))
    err_console.print(f"[dim]valid for {left} more seconds; each code signs in once[/]", highlight=False)
