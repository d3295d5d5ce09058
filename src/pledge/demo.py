"""The one-command demo: an example platform on SQLite, made once, then served.

On first start the demo also makes a console owner with a generated password and TOTP
secret. Its email and password are kept in ``<example>/.pledge/demo-admin.json`` (the
``.pledge`` folder is git-ignored; the file is readable by its owner only), so a second
start signs in with the same account. The TOTP secret stays in the store, encrypted, and
is read back from there.

The demo needs no key setup: on first start, when neither the environment nor the key
file gives keys, it writes fresh random ones to ``<example>/.pledge/keys.json`` (mode
0600) and uses them from then on. Nothing in the source is ever a key.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import string
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyotp
from sqlalchemy import inspect

from pledge.admins import AdminError
from pledge.engine import Engine
from pledge.keys import Keyring, KeysMissing, keys_file_for, write_keys_file
from pledge.settings import Settings

if TYPE_CHECKING:
    from pledge.devmail import DevMail

DEMO_ADMIN_EMAIL = "admin@pledge.localhost"
#: Where an installed Pledge copies an example to run it: ``./pledge-demo/<example>/``.
DEMO_FOLDER = "pledge-demo"
DEMO_ADMIN_FILE = "demo-admin.json"
#: letters and digits only, so the password copies with one double-click
ALPHABET = string.ascii_letters + string.digits

#: The pages the demo points a newcomer to, with what each one shows.
DEMO_PAGES = (
    ("/", "the policy this deployment enforces"),
    ("/privacy", "the privacy centre: a person asks for a copy, erasure…"),
    ("/admin", "the admin console (sign in below)"),
    ("/dev/mail", "the local mail sink: codes and notices land here"),
    ("/consent/demo", "the cookie banner on a sample page"),
    ("/notice", "the privacy notice made from the policy"),
    ("/docs", "the JSON API (OpenAPI)"),
)


@dataclass(frozen=True)
class DemoAdmin:
    """The demo's console owner: sign in with ``email``, ``password`` and a TOTP code."""

    email: str
    password: str
    totp_secret: str
    issuer: str
    created: bool

    @property
    def otpauth_uri(self) -> str:
        return pyotp.TOTP(self.totp_secret).provisioning_uri(name=self.email, issuer_name=self.issuer)

    def code(self) -> str:
        """The current 6-digit code (a convenience of the demo)."""
        return str(pyotp.TOTP(self.totp_secret).now())


def examples_dir() -> tuple[Path, bool]:
    """Where the example platforms are, and whether that is a source checkout.

    A checkout (``make demo``, an editable install) has them in ``examples/`` beside
    ``src/``: the demo runs each in place, its state beside it. A wheel carries them as
    package data in ``pledge/examples/`` (``setup.py`` copies them in at build time), which
    may be read-only: the demo copies one out first (:func:`demo_config`)."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "examples").is_dir():
        return checkout / "examples", True
    return Path(__file__).resolve().parent / "examples", False


def known_examples() -> list[str]:
    """The names of the example platforms (each a folder with a ``pledge.yaml``)."""
    root, _ = examples_dir()
    return sorted(p.name for p in root.iterdir() if (p / "pledge.yaml").is_file()) if root.is_dir() else []


def demo_config(example: str, workdir: Path | None = None) -> Path:
    """The ``pledge.yaml`` the demo runs for ``example``.

    In a checkout it is the example's own. Installed, the example's files are copied once to
    ``<workdir>/pledge-demo/<example>/`` (the current folder by default), where the demo then
    keeps its platform database, store, keys and console sign-in; a later start finds them
    there. Raises :class:`LookupError` for an unknown example."""
    root, checkout = examples_dir()
    source = root / example
    if not (source / "pledge.yaml").is_file():
        raise LookupError(f"--example {example!r}: no such example; choose one of {', '.join(known_examples())}")
    if checkout:
        return source / "pledge.yaml"
    target = (workdir or Path.cwd()) / DEMO_FOLDER / example
    config = target / "pledge.yaml"
    if not config.is_file():
        target.mkdir(parents=True, exist_ok=True)
        files = sorted(p for p in source.iterdir() if p.is_file() and p.name != "pledge.yaml")
        for path in [*files, source / "pledge.yaml"]:  # the config last: a copy cut short is redone
            shutil.copyfile(path, target / path.name)
    return config


def platform_exists(engine: Engine) -> bool:
    db = engine.dataset.databases[0].name
    return bool(inspect(engine.platform_engine(db)).get_table_names())


@dataclass(frozen=True)
class Demo:
    engine: Engine
    admin: DemoAdmin


def prepare_demo(config: Path, users: int = 10_000, *, mail: bool = True) -> Demo:
    """Build the engine; on first start only, generate the platform and the console owner;
    start the mail sink."""
    from pledge.platforms import create_platform

    settings = Settings()
    sink = start_mail_sink(settings) if mail else None
    # the demo owns its store: it upgrades it in any environment
    engine = Engine.from_config_file(config, settings, devmail=sink, auto_upgrade=True)
    demo_keys(engine)
    if not platform_exists(engine):
        name = engine.config.platform or engine.config.name
        create_platform(name, engine.config.platform_url, users=users)
        write_demo_blobs(engine, name)
    _ = engine.store  # migrations run now, not on the first request
    admin = demo_admin(engine)
    return Demo(engine, admin)


def write_demo_blobs(engine: Engine, platform: str) -> dict[str, int]:
    """The files the platform's rows describe, in the data map's stores (a folder beside the
    example by default, so the demo needs no service): real PDFs, PNGs and text (#16)."""
    if not engine.dataset.stores:
        return {}
    from pledge.platforms.blobfiles import targets_for, write_blobs

    stores = {n: engine.blobs.get(n) for n in engine.blobs.names()}
    return write_blobs(platform, engine.config.platform_url, targets_for(engine.dataset, stores))


def demo_keys(engine: Engine) -> Keyring:
    """The demo's keys: from the environment or its key file, made on first start.

    A key file that exists but cannot be used (readable by others, damaged) is never
    replaced: :class:`KeysMissing` says what is wrong with it."""
    try:
        return engine.keys
    except KeysMissing:
        path = keys_file_for(engine.state_dir, engine.settings)
        if path.exists():
            raise
    write_keys_file(path)
    _set_aside_old_store(engine)
    return engine.keys  # the failed load above was not remembered: this one reads the new file


def _set_aside_old_store(engine: Engine) -> None:
    """A demo store made before this demo had its keys holds data no key opens (an older
    Pledge encrypted with a built-in key): move it aside, so the demo starts afresh."""
    url = engine.config.store_url
    if not url.startswith("sqlite:///"):
        return
    store = Path(url.removeprefix("sqlite:///"))
    if not store.exists():
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        part = store.with_name(store.name + suffix)
        if part.exists():
            part.replace(part.with_name(part.name + ".before-keys"))
    import sys

    print(f"pledge demo: made new keys; the old store was moved to {store.name}.before-keys", file=sys.stderr)


def admin_file(engine: Engine) -> Path:
    return engine.config.base_dir / ".pledge" / DEMO_ADMIN_FILE


def demo_admin(engine: Engine) -> DemoAdmin:
    """The demo's owner account: made on first start, the same one on every later start."""
    path = admin_file(engine)
    issuer = f"Pledge ({engine.config.name})"
    saved: dict[str, str] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict) and loaded.get("email") and loaded.get("password"):
                saved = {"email": str(loaded["email"]), "password": str(loaded["password"])}
        except (OSError, ValueError):
            saved = {}
    users = {u.email: u for u in engine.admins.users()}
    if saved and saved["email"] in users and engine.admins.check_password(saved["email"], saved["password"]):
        user = users[saved["email"]]
        return DemoAdmin(user.email, saved["password"], engine.admins.totp_secret(user.id), issuer, created=False)
    # first start (or the store was reset, or the file lost): a new owner
    email = saved.get("email") or DEMO_ADMIN_EMAIL
    n = 1
    while email in users:
        n += 1
        email = DEMO_ADMIN_EMAIL.replace("@", f"-{n}@")
    password = saved.get("password") or "".join(secrets.choice(ALPHABET) for _ in range(20))
    try:
        user, uri = engine.admins.create_user(email, "owner", password=password, actor="demo")
    except AdminError as exc:  # pragma: no cover - the email and password above are valid
        raise RuntimeError(f"the demo could not make its admin user: {exc}") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"email": user.email, "password": password,
                   "note": "the demo's console owner; delete this file and the store to start afresh"}, fh)
    return DemoAdmin(user.email, password, pyotp.parse_uri(uri).secret, issuer, created=True)


def start_mail_sink(settings: Settings) -> DevMail | None:
    """A local SMTP sink on the settings' SMTP address; its mail is shown at /dev/mail."""
    from pledge.devmail import DevMail

    sink = DevMail(settings.smtp_host, settings.smtp_port)
    try:
        sink.start()
    except (OSError, RuntimeError) as exc:  # the port is taken (another demo, a real server)
        import sys

        print(f"pledge demo: no local mail sink on {sink.host}:{sink.port} ({exc})", file=sys.stderr)
        return None
    return sink
