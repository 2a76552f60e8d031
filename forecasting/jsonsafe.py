"""Values any JSON column accepts: PostgreSQL's JSONB refuses NaN and infinities outright.

A metric that is undefined (a WAPE of 0/0 on a fold with no sales) is stored as null, which
every reader (the API, the report, the promotion gate) already treats as "unknown".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """`value` with NaN/inf as None, NumPy scalars and arrays as Python values, recursively."""
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    return value
