"""Field types every entry point validates with (HTTP bodies, path and query parameters, imports).

One definition per rule so the API, the importer and the forecast request refuse the same
values with the same message, before anything reaches the database or the forecasting core.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StrictBool, StrictStr
from pydantic_core import ErrorDetails

from forecasting.types import MAX_PERIOD_QUANTITY
from store.models import PRODUCT_ID_MAX

EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2199, 12, 31)

# C0 and C1 control characters and DEL. PostgreSQL text cannot hold NUL at all, and the others
# only hide mistakes (a pasted tab, an escape sequence) in ids nobody can type back.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What a generator of valid documents (schemathesis, a client) should send; validation below
# gives the clearer message.
NO_CONTROL_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
PRODUCT_ID_PATTERN = r"^[^\x00-\x1f\x7f-\x9f/]*[^\x00-\x20\x7f-\x9f/][^\x00-\x1f\x7f-\x9f/]*$"
# A JSON string may escape half of a UTF-16 pair ("\udc00"); Python keeps it as a lone
# surrogate, which no UTF-8 encoder (the database's, the answer's) can write: stored, it made the
# product unreadable (every GET of it a 500).
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def no_control_characters(value: str) -> str:
    if value.isprintable():  # no control character (they are not printable): no search
        return value
    found = _CONTROL.search(value)
    if found:
        raise ValueError(
            f"must not contain control characters (found U+{ord(found.group()):04X} "
            f"at position {found.start()})"
        )
    found = _SURROGATE.search(value)
    if found:
        raise ValueError(
            f"must be valid Unicode text (found a lone surrogate U+{ord(found.group()):04X} "
            f"at position {found.start()})"
        )
    return value


def routable_id(value: str) -> str:
    """An id must round-trip through `/v1/products/{product_id}` to be read and deleted.

    '/' is refused rather than routed with a path converter: `/v1/products/a/sales` would be
    ambiguous between product 'a/sales' and the sales of 'a', and proxies commonly decode or
    refuse an encoded '%2F'. '.' and '..' are removed from paths by clients (RFC 3986).
    """
    no_control_characters(value)
    if "/" in value:
        raise ValueError("must not contain '/' (ids are used as one URL path segment)")
    if value in (".", ".."):
        raise ValueError("'.' and '..' cannot be used as ids (clients drop them from URLs)")
    if not value.strip():
        raise ValueError("must contain a non-blank character")
    return value


ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_date_only(value: Any) -> Any:
    """Only `YYYY-MM-DD` text (or a date object, from the importer's files): pydantic alone
    would also take a number as seconds since 1970 (`0` was 1970-01-01) and a datetime at
    midnight."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and ISO_DATE.fullmatch(value):
        return value
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."  # a huge value stays readable
    raise ValueError(f"{shown} is not an ISO date, YYYY-MM-DD")


def date_in_range(value: dt.date) -> dt.date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"must be between {EARLIEST_DATE} and {LATEST_DATE}")
    return value


ProductId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=PRODUCT_ID_MAX,
        examples=["SKU-1001"],
        json_schema_extra={"pattern": PRODUCT_ID_PATTERN},
    ),
    AfterValidator(routable_id),
]
# Attribute names and string values: any text without control characters.
AttributeName = Annotated[
    str,
    Field(min_length=1, json_schema_extra={"pattern": NO_CONTROL_PATTERN}),
    AfterValidator(no_control_characters),
]
AttributeText = Annotated[
    StrictStr,
    Field(json_schema_extra={"pattern": NO_CONTROL_PATTERN}),
    AfterValidator(no_control_characters),
]
# Quantities: finite JSON numbers only; strict, so `true` and `"1e3"` are refused, not coerced.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False, strict=True)]


def plausible_quantity(value: float) -> float:
    """No sale or history quantity beyond the core's bound on a period's total: 1e308 is
    finite, but training on it overflowed (numpy warnings, then a model published anyway)."""
    if abs(value) > MAX_PERIOD_QUANTITY:
        bound = f"{MAX_PERIOD_QUANTITY:.0e}"
        raise ValueError(f"must be between -{bound} and {bound}")
    return value


# Units sold (negative: net returns), as sent by a sales batch, an import or a forecast's history.
Quantity = Annotated[
    float,
    Field(
        allow_inf_nan=False,
        strict=True,
        json_schema_extra={"minimum": -MAX_PERIOD_QUANTITY, "maximum": MAX_PERIOD_QUANTITY},
    ),
    AfterValidator(plausible_quantity),
]
# Attribute values: strings, finite numbers, booleans or null. Objects and lists are refused.
AttributeValue = StrictBool | AttributeText | FiniteFloat | None
Attributes = dict[AttributeName, AttributeValue]
# Calendar dates the service can compute periods for (pandas' range ends in 2262).
Date = Annotated[
    dt.date,
    Field(
        description=f"ISO date between {EARLIEST_DATE} and {LATEST_DATE}.",
        json_schema_extra={"formatMinimum": str(EARLIEST_DATE), "formatMaximum": str(LATEST_DATE)},
    ),
    BeforeValidator(iso_date_only),
    AfterValidator(date_in_range),
]


# --- pydantic errors as the API and the importer report them ---------------------------------


def message(err: Any) -> str:
    """pydantic's message without the "Value error, " it puts before our validators' own."""
    return str(err.get("msg", "invalid value")).removeprefix("Value error, ")


def is_union_branch(part: Any) -> bool:
    """pydantic names the union member it tried ('str', 'function-after[...]') in locations."""
    # pydantic adds the union member's type name ("str", "float", ...) to the location
    return isinstance(part, str) and (part in _UNION_MEMBERS or "[" in part)


_UNION_MEMBERS = {"str", "int", "float", "bool", "none", "dict", "list"}


def without_union_misses(errors: Sequence[ErrorDetails]) -> list[ErrorDetails]:
    """pydantic's errors less, for a value of a union, the members that refused only its type.

    An attribute of 1e400 failed all three members: "a valid boolean", "a valid string" and "a
    finite number"; only the member of the value's own type says what is wrong with it. When no
    member took the value's type (a list as an attribute), every member's refusal is kept:
    together they say what is allowed.
    """

    def field(err: ErrorDetails) -> tuple[Any, ...]:
        return tuple(part for part in err["loc"] if not is_union_branch(part))

    def from_union(err: ErrorDetails) -> bool:
        return any(is_union_branch(part) for part in err["loc"])

    specific = {field(e) for e in errors if from_union(e) and not _type_miss(e)}
    return [e for e in errors if not (from_union(e) and _type_miss(e) and field(e) in specific)]


def _type_miss(err: ErrorDetails) -> bool:
    """An error saying only that the value is not of the member's type ("bool_type", ...)."""
    return err["type"].endswith("_type") or err["type"] == "none_required"
