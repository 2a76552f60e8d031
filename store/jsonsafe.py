"""JSON columns store metrics made JSON-safe by the core's one helper (PostgreSQL's JSONB
refuses NaN and infinities outright)."""

from forecasting.jsonsafe import json_safe

__all__ = ["json_safe"]
