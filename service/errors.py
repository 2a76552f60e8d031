"""RFC 9457 problem details: one shape for every error the service answers."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from forecasting.errors import ForecastingError
from forecasting.suggest import did_you_mean
from store.fields import is_union_branch, message, without_union_misses

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


class ProblemError(Exception):
    """A domain error with its HTTP status; raised by services, rendered by one handler."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class InvalidItems(ProblemError):
    """Some items of a request are invalid; `errors` names each by its field path."""

    status = 422
    title = "Validation failed"


class NotFound(ProblemError):
    status = 404
    title = "Not found"


class Conflict(ProblemError):
    status = 409
    title = "Conflict"


def problem_response(
    status: int,
    title: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://launchcast.dev/problems/{status}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """('body', 'products', 3, 'launch_date') -> 'products[3].launch_date'."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def api_errors(core_errors: list[dict[str, str]]) -> list[dict[str, str]]:
    """The core's errors with API paths: a field of the query at "index" becomes
    `products[<index>].<field>` (the core knows no API paths)."""
    out = []
    for error in core_errors:
        field = error.get("field", "")
        if "index" in error:
            field = f"products[{error['index']}]" + (f".{field}" if field else "")
        out.append({"field": field or "body", "message": error.get("message", "")})
    return out


def validation_errors(
    exc: RequestValidationError, known_fields: Collection[str] = ()
) -> list[dict[str, str]]:
    """One entry per offending field; a union's several refusals merge into one message, or
    are the refusal of the member of the value's type alone (1e400 as an attribute: "a finite
    number", not also "a valid boolean or a valid string"). A field the request may not hold
    is named as unknown, with the closest of `known_fields` (a typo like "atributes" is the
    common cause)."""
    merged: dict[str, list[str]] = {}
    for err in without_union_misses(exc.errors()):
        if err.get("type") == "extra_forbidden":
            name = str(err.get("loc", ("?",))[-1])
            merged.setdefault(field_path(err["loc"]), []).append(
                "unknown field" + did_you_mean(name, known_fields)
            )
            continue
        if err.get("type") == "json_invalid":
            position = err.get("loc", ("body", "?"))[-1]
            error = err.get("ctx", {}).get("error", "invalid JSON")
            merged.setdefault("body", []).append(f"malformed JSON at character {position}: {error}")
            continue
        loc = [p for p in err.get("loc", ()) if not is_union_branch(p)]
        merged.setdefault(field_path(loc), []).append(message(err))
    return [{"field": f, "message": " or ".join(dict.fromkeys(m))} for f, m in merged.items()]


def invalid_fields(errors: list[dict[str, str]]) -> str:
    """The `detail` of a 422 naming invalid fields."""
    return "invalid fields: " + ", ".join(sorted({e["field"] for e in errors}))


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to problem details; no stack trace ever leaves the process."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc, request_fields(request.app))
        return problem_response(422, "Validation failed", invalid_fields(errors), errors)

    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, exc.errors)

    @app.exception_handler(ForecastingError)
    async def _forecasting(_: Request, exc: ForecastingError) -> JSONResponse:
        return problem_response(422, "Cannot forecast", str(exc), api_errors(exc.errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI answers a body it cannot decode with a bare 400; a body that is not
            # UTF-8 is as malformed as one that is not JSON, and is answered the same way.
            at = exc.__cause__.start
            errors = [{"field": "body", "message": f"not UTF-8 text at byte {at}: send JSON"}]
            return problem_response(422, "Validation failed", "invalid fields: body", errors)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request, headers.get("Allow", ""))
        return problem_response(
            exc.status_code,
            TITLES.get(exc.status_code, "Error"),
            str(exc.detail),
            headers=headers or None,
        )

    @app.exception_handler(OperationalError)
    async def _database_down(_: Request, exc: OperationalError) -> JSONResponse:
        # The database is unreachable or refusing: a retryable outage, not a bug of the request.
        log.error("database unavailable: %s", type(exc.orig).__name__ if exc.orig else exc)
        return problem_response(
            503,
            "Service unavailable",
            "the database is unavailable; retry shortly",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        # The failed request may have left its body unread or the app in doubt about the
        # connection: close it rather than let the client reuse it and get a reset.
        return problem_response(
            500,
            "Internal error",
            "an unexpected error occurred; it was logged",
            headers={"Connection": "close"},
        )


TITLES = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    422: "Validation failed",
    503: "Service unavailable",
}


def request_fields(app: FastAPI) -> set[str]:
    """Every property name in the OpenAPI document's schemas, the request fields among them
    (answers' names too: a suggestion only needs the closest real name)."""
    cached: set[str] | None = getattr(app.state, "request_fields", None)
    if cached is None:
        schemas = app.openapi().get("components", {}).get("schemas", {})
        cached = {name for schema in schemas.values() for name in schema.get("properties", {})}
        app.state.request_fields = cached
    return cached


def allowed_methods(request: Request, fallback: str) -> str:
    """Every method documented at this path; the router names only the first route's.

    Read from the OpenAPI document, the one place that lists each path template's methods
    whatever router declared them; paths it does not describe keep the router's answer.
    """
    path = request.scope.get("path", "")
    for template, methods in _path_methods(request.app).items():
        if template.fullmatch(path):
            return ", ".join(sorted(methods))
    return fallback


def _path_methods(app: FastAPI) -> dict[re.Pattern[str], set[str]]:
    cached: dict[re.Pattern[str], set[str]] | None = getattr(app.state, "path_methods", None)
    if cached is None:
        cached = {}
        for path, item in app.openapi().get("paths", {}).items():
            pattern = re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)))
            methods = {method.upper() for method in item if method in _HTTP_METHODS}
            if "GET" in methods:
                methods.add("HEAD")  # served for every GET route
            cached[pattern] = methods
        app.state.path_methods = cached
    return cached


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


# The longest version or run id the registry stores (both columns are String(64)).
KEY_MAX = 64
# How much of an unknown id a 404 repeats: enough to recognise it, never a 5,000-character echo.
SHOWN_MAX = 80


def storable_key(value: str) -> bool:
    """Could `value` be a stored version or run id? Stored ones are at most KEY_MAX printable
    characters; anything else (a NUL, which PostgreSQL text cannot hold and so answered 500, a
    lone surrogate, a 5,000-character id) is unknown without asking the database."""
    return len(value) <= KEY_MAX and value.isprintable()


def shown(value: str) -> str:
    """An id as a 404's detail repeats it: control characters escaped, long ones cut."""
    text = "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode()
        for c in value[: SHOWN_MAX + 1]
    )
    return text if len(text) <= SHOWN_MAX else f"{text[:SHOWN_MAX]}... ({len(value)} characters)"
