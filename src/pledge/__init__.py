"""Pledge: a privacy policy as code, enforced in the platform's own databases.

``pledge.Engine`` is the composition root (:mod:`pledge.engine`), loaded when first asked
for, so that importing any part of Pledge does not build or import the whole application.
"""

from __future__ import annotations

import typing

from pledge.settings import Config, Settings, load_config

if typing.TYPE_CHECKING:
    from pledge.engine import Engine

__version__ = "0.1.0"

__all__ = ["Config", "Engine", "Settings", "__version__", "load_config"]


def __getattr__(name: str) -> typing.Any:
    if name == "Engine":
        from pledge.engine import Engine

        return Engine
    raise AttributeError(f"module 'pledge' has no attribute {name!r}")
