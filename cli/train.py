"""Placeholder until its issue lands."""

from __future__ import annotations


def train_command() -> None:
    """Not built yet."""
    raise NotImplementedError("not built yet")


def evaluate_command() -> None:
    """Not built yet."""
    raise NotImplementedError("not built yet")


def schedule_command() -> None:
    """Not built yet."""
    raise NotImplementedError("not built yet")
