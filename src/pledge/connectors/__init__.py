"""Connectors: set-based access to the platform's own databases."""
