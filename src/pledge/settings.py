"""Settings from the environment, and the per-deployment config file (``pledge.yaml``).

Settings hold secrets and service addresses (``PLEDGE_*`` variables). The config file
names a deployment's policy, dataset and databases. Paths in the config resolve relative
to the config file, and SQLite URLs are made absolute the same way.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pledge.emails import is_email_address
from pledge.errors import InvalidInput


class Settings(BaseSettings):
    """Process-wide settings, read from ``PLEDGE_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="PLEDGE_", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    #: Keys, one purpose each, comma separated and newest first (see pledge.keys). When a
    #: variable is unset, the deployment's key file (``.pledge/keys.json``) gives that purpose.
    secret_key: SecretStr | None = None  # signing: links, tokens, sessions, certificates
    subject_key: SecretStr | None = None  # keyed HMACs that stand for people in the store
    audit_key: SecretStr | None = None  # the keyed audit chain and its signed checkpoints
    encryption_keys: SecretStr | None = None  # Fernet keys for data at rest
    keys_file: Path | None = None
    database_url: str | None = None
    platform_url: str | None = None
    broker_url: str | None = None
    #: Redis for the rate limits (pledge.ratelimit); a redis:// broker_url serves too. Unset: the store.
    redis_url: str | None = None
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_tls: bool = False
    mail_from: str = "privacy@pledge.localhost"
    #: How mail leaves (pledge.outbox). Every message is queued in the store's outbox;
    #: "outbox" sends it from a background sender (web: a thread; Celery: beat), "inline"
    #: sends it at once on the caller's thread. Unset: inline under environment "test".
    mail_mode: Literal["outbox", "inline"] | None = None
    #: seconds an SMTP connection may sit silent before the attempt counts as failed
    mail_timeout: float = 10.0
    #: seconds before the first retry of a failed send; doubled each time, at most an hour
    mail_retry_after: float = 60.0
    #: attempts before a message is given up (its outbox row shows "failed")
    mail_attempts: int = 10
    #: seconds between the background sender's looks at the outbox (new mail wakes it at once)
    mail_poll: float = 1.0
    base_url: str = "http://127.0.0.1:8000"
    #: the largest request body the web app reads, in bytes (pledge.web.limits); larger gets 413
    max_body_bytes: int = 1024 * 1024


class ConfigError(InvalidInput):
    """A config file that cannot be used, with the file named."""


ORIGIN_RE = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?")  # fullmatch: a web origin, no path
COLOUR_RE = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")  # fullmatch: no trailing newline
#: logo files Pledge serves from the deployment folder, and their media types
LOGO_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
              ".webp": "image/webp", ".gif": "image/gif"}
LOGO_MAX_BYTES = 512 * 1024


class Branding(BaseModel):
    """What people see as the platform (``branding:`` in pledge.yaml): on every page and email.

    Unset keys fall back to the policy (pledge.branding): the controller's name and email."""

    model_config = ConfigDict(extra="forbid")

    #: shown in each page's header and title and as the sender name of every email
    name: str | None = Field(default=None, min_length=1, max_length=80)
    #: an ``https://`` address, or a file in the deployment folder (png, svg, jpg, webp, gif)
    logo: str | None = Field(default=None, max_length=500)
    #: ``#rgb`` or ``#rrggbb``: the page header and buttons
    primary_colour: str | None = None
    #: the address people write to for help, in every page footer and email
    support_email: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or not value.isprintable()):
            raise ValueError("must be printable text on one line")
        return value.strip() if value is not None else None

    @field_validator("primary_colour")
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        if value is not None and not COLOUR_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not a colour like #0b5fff or #05f")
        return value.lower() if value is not None else None

    @field_validator("support_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not is_email_address(value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator("logo")
    @classmethod
    def _logo(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "://" in value or value.startswith("//"):
            if not re.fullmatch(r"https://[A-Za-z0-9.-]+(:\d+)?/[^\s\"'<>()\\]*", value):
                raise ValueError("a logo address must be https:// with a path, and no spaces or quotes")
        elif Path(value).suffix.lower() not in LOGO_TYPES:
            raise ValueError(f"a logo file must be one of {', '.join(sorted(LOGO_TYPES))}")
        return value

    def logo_file(self, base_dir: Path) -> Path | None:
        """The logo as a file in the deployment folder, or None for an address (or no logo)."""
        if self.logo is None or self.logo.startswith("https://"):
            return None
        return (base_dir / self.logo).resolve()


def check_logo(branding: Branding, base_dir: Path) -> None:
    """A logo file must be a file inside the deployment folder, at most 512 KiB."""
    path = branding.logo_file(base_dir)
    if path is None:
        return
    if not path.is_relative_to(base_dir.resolve()):
        raise ValueError(f"{branding.logo!r} is outside the deployment folder")
    if not path.is_file():
        raise ValueError(f"{branding.logo!r}: no such file next to pledge.yaml")
    if path.stat().st_size > LOGO_MAX_BYTES:
        raise ValueError(f"{branding.logo!r} is larger than {LOGO_MAX_BYTES // 1024} KiB")


class Config(BaseModel):
    """One deployment: ``examples/<platform>/pledge.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    policy: Path
    dataset: Path
    #: Name of the example platform generator in ``pledge.platforms`` (optional).
    platform: str | None = None
    platform_url: str = Field(default="sqlite:///platform.db")
    store_url: str = Field(default="sqlite:///.pledge/store.db")
    #: the platform's name, logo, colour and support address (Branding)
    branding: Branding = Field(default_factory=Branding)
    #: the platform's own sites that embed the cookie banner (``https://shop.example``): their
    #: pages may record an anonymous visitor's choice under a receipt (POST /v1/consent/receipt)
    banner_origins: list[str] = Field(default_factory=list, max_length=50)
    base_dir: Path = Path(".")

    @field_validator("banner_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        out = []
        for value in values:
            found = ORIGIN_RE.fullmatch(value.rstrip("/"))
            if not found or (found.group(1) and int(found.group(1)[1:]) > 65535):
                raise ValueError(f"{value!r} is not an origin like https://www.example.org (scheme, host, port)")
            out.append(value.rstrip("/").lower())
        return out


def absolute_sqlite_url(url: str, base_dir: Path) -> str:
    """Make a relative ``sqlite:///file`` URL absolute against ``base_dir``."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    rest = url[len(prefix):]
    if rest in ("", ":memory:") or rest.startswith("/"):
        return url
    return prefix + str((base_dir / rest).resolve())


def load_config(path: str | Path, settings: Settings | None = None) -> Config:
    """Read a ``pledge.yaml``; environment URLs win over the file's."""
    settings = settings or Settings()
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found (pass -c/--config or set PLEDGE_CONFIG)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    base = path.resolve().parent
    branding = raw.get("branding")
    if isinstance(branding, dict) and "primary_colour" in branding and branding["primary_colour"] is None:
        raise ConfigError(f'{path}: branding.primary_colour: empty; quote the colour, like "#0b5fff" '
                          "(an unquoted # starts a YAML comment)")
    try:
        cfg = Config.model_validate({**raw, "base_dir": base})
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {errs}") from exc
    try:
        check_logo(cfg.branding, base)
    except ValueError as exc:
        raise ConfigError(f"{path}: branding.logo: {exc}") from exc
    cfg.policy = (base / cfg.policy).resolve()
    cfg.dataset = (base / cfg.dataset).resolve()
    cfg.platform_url = absolute_sqlite_url(settings.platform_url or cfg.platform_url, base)
    cfg.store_url = absolute_sqlite_url(settings.database_url or cfg.store_url, base)
    return cfg


def default_config_path() -> Path:
    return Path(os.environ.get("PLEDGE_CONFIG", "pledge.yaml"))
