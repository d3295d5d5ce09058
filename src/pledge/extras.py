"""Optional parts of Pledge, and the pip extras that install them.

``pip install privacy-pledge`` is enough for SQLite, the demo and everything in-process.
Other backends come with extras, and their packages are imported only when used:

=============  ==================================  ==========================================
extra          installs                            needed for
=============  ==================================  ==========================================
postgresql     psycopg 3                           ``postgresql+psycopg://`` URLs
mysql          PyMySQL                             ``mysql+pymysql://`` URLs (MariaDB, MySQL)
celery         Celery with Redis, limits[redis]    ``pledge worker``, ``PLEDGE_BROKER_URL``
redis          limits[redis]                       rate limits in Redis (``PLEDGE_REDIS_URL``)
s3             boto3                               files kept in S3
=============  ==================================  ==========================================

Without its extra, the first use raises :class:`MissingExtra` (an ImportError) that names
the command to run; the CLI prints it and exits 1.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from sqlalchemy import create_engine as _create_engine
from sqlalchemy.engine import Engine as SAEngine

from pledge.errors import Unavailable

__all__ = ["EXTRAS", "MissingExtra", "create_engine", "missing_extra", "require"]

#: top-level module -> the extra that installs it
EXTRAS: dict[str, str] = {
    "psycopg": "postgresql",
    "pymysql": "mysql",
    "celery": "celery",
    "redis": "redis",
    "boto3": "s3",
}

#: drivers SQLAlchemy picks for a URL without one, which Pledge does not ship
_OTHER_DRIVERS: dict[str, tuple[str, str]] = {
    "psycopg2": ("postgresql", "write the URL as postgresql+psycopg://… (Pledge uses psycopg 3)"),
    "MySQLdb": ("mysql", "write the URL as mysql+pymysql://… (Pledge uses PyMySQL)"),
}


class MissingExtra(ImportError, Unavailable):  # ImportError first: its __init__ takes name=
    """An optional package is not installed; the message says which extra brings it."""

    def __init__(self, module: str, extra: str, what: str, hint: str = "") -> None:
        self.module, self.extra, self.what = module, extra, what
        advice = f"{hint}; " if hint else ""
        super().__init__(f"{what} needs the {module!r} package, which is not installed: "
                         f"{advice}pip install 'privacy-pledge[{extra}]'", name=module)


def missing_extra(exc: ModuleNotFoundError, what: str) -> MissingExtra | None:
    """The :class:`MissingExtra` for a failed import of an optional package, else None."""
    module = (exc.name or "").split(".")[0]
    if module in EXTRAS:
        return MissingExtra(module, EXTRAS[module], what)
    if module in _OTHER_DRIVERS:
        extra, hint = _OTHER_DRIVERS[module]
        return MissingExtra(module, extra, what, hint)
    return None


def require(module: str, what: str) -> None:
    """Raise :class:`MissingExtra` unless ``module`` (a key of :data:`EXTRAS`) is importable."""
    if importlib.util.find_spec(module) is None:
        raise MissingExtra(module, EXTRAS[module], what)


def create_engine(url: Any, **kwargs: Any) -> SAEngine:
    """:func:`sqlalchemy.create_engine`, with a driver that is not installed named by its extra."""
    try:
        return _create_engine(url, **kwargs)
    except ModuleNotFoundError as exc:
        better = missing_extra(exc, f"the database URL {_scheme(url)}://…")
        if better is None:
            raise
        raise better from exc


def _scheme(url: Any) -> str:
    text = url.render_as_string(hide_password=True) if hasattr(url, "render_as_string") else str(url)
    return text.split("://", 1)[0]
