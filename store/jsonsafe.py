"""JSON that every database accepts: PostgreSQL's JSONB refuses NaN and Infinity."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """`value` with NaN and infinities as None (undefined, e.g. a WAPE of 0/0), numpy scalars
    and arrays as Python values, tuples as lists; recursively through dicts and lists."""
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
