"""Placeholder until its issue lands."""

from __future__ import annotations


def demo_command() -> None:
    """Not built yet."""
    raise NotImplementedError("not built yet")
