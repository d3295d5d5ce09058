"""Data-subject rights: access, portability, erasure, rectification, restriction, objection."""
