"""The OpenAPI document as clients need it: every error under `application/problem+json`.

FastAPI files a `responses=` model under `application/json` and adds its own 422 schema
(`HTTPValidationError`) to every operation with parameters, while the service sends every error
as problem details with that media type: a generated client then cannot parse errors at all.
One pass over the generated document puts each error response under the media type actually
sent, with the Problem schema and an example of its own status, and declares the 413 that any
operation with a request body may answer (see BodyLimitMiddleware).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from service.errors import PROBLEM_JSON, TITLES

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
DETAILS = {
    400: "the request could not be read",
    401: "missing X-API-Key header",
    403: "this key has role 'read', the 'write' role is needed",
    404: "no product 'SKU-1001'",
    409: "another training run is queued or running",
    413: "the request body exceeds the limit of 16777216 bytes",
    422: "invalid fields: products[0].launch_date",
    503: "the database is unavailable; retry shortly",
}
VALIDATION_EXAMPLE_ERRORS = [
    {"field": "products[0].launch_date", "message": "must be between 1900-01-01 and 2199-12-31"}
]


def install_openapi(app: FastAPI) -> None:
    """Replace `app.openapi` with one that post-processes FastAPI's document once."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_details_everywhere(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def problem_details_everywhere(document: dict[str, Any]) -> dict[str, Any]:
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if "requestBody" in operation and "413" not in responses:
                responses["413"] = {"description": TITLES[413]}
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    _as_problem(int(code), response)
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def _as_problem(status: int, response: dict[str, Any]) -> None:
    content = response.setdefault("content", {})
    content.pop("application/json", None)
    problem = content.setdefault(PROBLEM_JSON, {})
    problem["schema"] = PROBLEM_REF
    example = problem.get("example")
    if not isinstance(example, dict) or example.get("status") != status:
        problem["example"] = problem_example(status)
    if status == 422 and response.get("description") == "Validation Error":
        response["description"] = "Validation failed"


def problem_example(status: int) -> dict[str, Any]:
    example: dict[str, Any] = {
        "type": f"https://launchcast.dev/problems/{status}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": DETAILS.get(status, "see the title"),
    }
    if status == 422:
        example["errors"] = VALIDATION_EXAMPLE_ERRORS
    return example
