"""Connector plugins: what reaches a platform's data, found through a Python entry point.

A connector is a package's object, registered in the entry point group
``pledge.connectors`` (in its ``pyproject.toml``)::

    [project.entry-points."pledge.connectors"]
    mongo = "pledge_mongo:PLUGIN"

where ``PLUGIN`` is a :class:`ConnectorPlugin`: its name, the kind of data it reaches
(``rows`` of tables, or ``blobs`` of files), the URL schemes it opens, the capabilities it
declares, and ``target``, the ``module:attribute`` of what makes a connector. For a blob
store the target is called as ``target(url, base_dir)`` and returns a
:class:`pledge.blobs.BlobStore`; for a row store it is the connector class
(:class:`pledge.connectors.base.Connector`). Pledge's own three are registered the same
way, in Pledge's ``pyproject.toml``: ``sql`` (SQLite, PostgreSQL, MariaDB), ``files`` (a
folder) and ``s3`` (an S3-compatible bucket).

Capabilities, and what each asks of a connector:

=========  ===================================  ======================================
name       rows (a Connector)                   blobs (a BlobStore)
=========  ===================================  ======================================
find       ``find``                             ``list``, ``exists``
export     ``fetch``                            ``get``
mask       ``update_keys``                      (files cannot be masked; never declared)
delete     ``delete_keys``                      ``delete_many``
expire     ``find_between``                     ``list`` (with times) and ``delete_many``
discover   ``tables``, ``describe``             ``prefixes``
=========  ===================================  ======================================

:func:`pledge.testing.conformance.check_plugin` checks a plugin's declaration against what
its target really has; the rest of that module tests a blob store's behaviour.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Literal

from pledge.errors import InvalidInput, NotFound

__all__ = ["BUILTIN", "CAPABILITIES", "ENTRY_POINT_GROUP", "FILES", "REQUIRED", "S3", "SQL", "ConnectorPlugin",
           "PluginError", "UnknownScheme", "discover_plugins", "plugin_for_scheme"]

ENTRY_POINT_GROUP = "pledge.connectors"
CAPABILITIES = ("find", "export", "mask", "delete", "expire", "discover")
Kind = Literal["rows", "blobs"]

#: capability -> the methods a connector of each kind needs for it
REQUIRED: dict[str, dict[str, tuple[str, ...]]] = {
    "rows": {"find": ("find",), "export": ("fetch",), "mask": ("update_keys",), "delete": ("delete_keys",),
             "expire": ("find_between",), "discover": ("tables", "describe")},
    "blobs": {"find": ("list", "exists"), "export": ("get",), "delete": ("delete_many",),
              "expire": ("list", "delete_many"), "discover": ("prefixes",)},
}


class PluginError(InvalidInput):
    """A connector plugin whose declaration is wrong, or that cannot be loaded."""


class UnknownScheme(NotFound):
    """No installed connector opens URLs of this scheme."""


@dataclass(frozen=True)
class ConnectorPlugin:
    """One connector, as its package declares it (see the module's notes)."""

    name: str
    kind: Kind
    capabilities: frozenset[str]
    #: URL schemes it opens (``sqlite``, ``postgresql``…; ``file``; ``s3``)
    schemes: tuple[str, ...]
    #: ``module:attribute`` of the connector class (rows) or of ``open(url, base_dir)`` (blobs)
    target: str
    description: str = ""

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise PluginError(f"connector plugin {self.name!r}: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """What is wrong with the declaration itself (nothing is imported)."""
        out: list[str] = []
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            out.append("its name must be letters, digits, '-' or '_'")
        if self.kind not in REQUIRED:
            out.append(f"kind {self.kind!r} is not one of {', '.join(REQUIRED)}")
            return out
        unknown = sorted(set(self.capabilities) - set(CAPABILITIES))
        if unknown:
            out.append(f"unknown capabilities {', '.join(unknown)} (known: {', '.join(CAPABILITIES)})")
        impossible = sorted(c for c in self.capabilities if c in CAPABILITIES and c not in REQUIRED[self.kind])
        if impossible:
            out.append(f"a {self.kind} connector cannot declare {', '.join(impossible)}")
        if not self.schemes:
            out.append("it opens no URL scheme")
        module, sep, attr = self.target.partition(":")
        if not sep or not module or not attr:
            out.append(f"target {self.target!r} must be 'module:attribute'")
        return out

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

    def load(self) -> Callable[..., Any]:
        """Import the target (the connector class, or the blob store opener)."""
        module, _, attr = self.target.partition(":")
        try:
            obj: Any = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise PluginError(f"connector plugin {self.name!r}: cannot load {self.target!r}: {exc}") from exc
        if not callable(obj):
            raise PluginError(f"connector plugin {self.name!r}: {self.target!r} is not callable")
        return obj  # type: ignore[no-any-return]

    def required_methods(self) -> dict[str, tuple[str, ...]]:
        """Declared capability -> the methods it needs."""
        return {c: REQUIRED[self.kind][c] for c in sorted(self.capabilities)}


SQL = ConnectorPlugin(
    "sql", "rows", frozenset(CAPABILITIES), ("sqlite", "postgresql", "mysql", "mariadb"),
    "pledge.connectors.sql:SqlConnector", "SQL databases through SQLAlchemy: SQLite, PostgreSQL, MariaDB")
FILES = ConnectorPlugin(
    "files", "blobs", frozenset({"find", "export", "delete", "expire", "discover"}), ("file",),
    "pledge.blobs.urls:open_file_store", "files in a folder (the embedded default)")
S3 = ConnectorPlugin(
    "s3", "blobs", frozenset({"find", "export", "delete", "expire", "discover"}), ("s3",),
    "pledge.blobs.urls:open_s3_store", "objects in an S3-compatible bucket (boto3; the s3 extra)")
#: Pledge's own, known even when the package metadata is missing (a source tree on sys.path).
BUILTIN: dict[str, ConnectorPlugin] = {p.name: p for p in (SQL, FILES, S3)}


def discover_plugins(*, strict: bool = False) -> tuple[dict[str, ConnectorPlugin], list[str]]:
    """Every installed connector plugin by name, and the problems met on the way.

    Pledge's own are always there; an entry point that does not load, is not a
    :class:`ConnectorPlugin`, or takes a name already taken is left out and reported
    (raised as :class:`PluginError` with ``strict``)."""
    found: dict[str, ConnectorPlugin] = dict(BUILTIN)
    problems: list[str] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        origin = f"{ep.name} = {ep.value}"
        try:
            plugin = ep.load()
        except Exception as exc:  # a third party's import error must not stop Pledge
            problems.append(f"{origin}: cannot load it: {type(exc).__name__}: {exc}")
            continue
        if not isinstance(plugin, ConnectorPlugin):
            problems.append(f"{origin}: is a {type(plugin).__name__}, not a pledge.plugins.ConnectorPlugin")
            continue
        if plugin.name != ep.name:
            problems.append(f"{origin}: the entry point's name differs from the plugin's ({plugin.name!r})")
            continue
        if plugin.name in found and found[plugin.name] != plugin:
            problems.append(f"{origin}: the name {plugin.name!r} is taken by {found[plugin.name].target}")
            continue
        found[plugin.name] = plugin
    if strict and problems:
        raise PluginError("; ".join(problems))
    return found, problems


def plugin_for_scheme(scheme: str, kind: Kind | None = None) -> ConnectorPlugin:
    """The installed plugin that opens ``scheme`` URLs (of ``kind``, when given)."""
    plugins, _ = discover_plugins()
    scheme = scheme.lower().split("+", 1)[0]
    for plugin in plugins.values():
        if scheme in plugin.schemes and (kind is None or plugin.kind == kind):
            return plugin
    known = sorted({s for p in plugins.values() if kind is None or p.kind == kind for s in p.schemes})
    raise UnknownScheme(f"no connector opens {scheme}: URLs (known: {', '.join(known)})")
