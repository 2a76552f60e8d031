"""Placeholder until its issue lands."""

from __future__ import annotations


def import_command() -> None:
    """Not built yet."""
    raise NotImplementedError("not built yet")
