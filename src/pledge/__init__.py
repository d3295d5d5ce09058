"""Pledge: a privacy policy as code, enforced in the platform's own databases."""

from pledge.engine import Engine
from pledge.settings import Config, Settings, load_config

__version__ = "0.1.0"

__all__ = ["Config", "Engine", "Settings", "__version__", "load_config"]
