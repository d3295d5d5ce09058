"""Settings from the environment, and the per-deployment config file (``pledge.yaml``).

Settings hold secrets and service addresses (``PLEDGE_*`` variables). The config file
names a deployment's policy, dataset and databases. Paths in the config resolve relative
to the config file, and SQLite URLs are made absolute the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    base_dir: Path = Path(".")


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
    try:
        cfg = Config.model_validate({**raw, "base_dir": base})
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {errs}") from exc
    cfg.policy = (base / cfg.policy).resolve()
    cfg.dataset = (base / cfg.dataset).resolve()
    cfg.platform_url = absolute_sqlite_url(settings.platform_url or cfg.platform_url, base)
    cfg.store_url = absolute_sqlite_url(settings.database_url or cfg.store_url, base)
    return cfg


def default_config_path() -> Path:
    return Path(os.environ.get("PLEDGE_CONFIG", "pledge.yaml"))
