"""Schemas shared by several routers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FieldError(BaseModel):
    field: str = Field(examples=["products[3].launch_date"])
    message: str = Field(examples=["Input should be a valid date"])


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=["https://launchcast.dev/problems/422"])
    title: str = Field(examples=["Validation failed"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["invalid fields: products[3].launch_date"])
    errors: list[FieldError] | None = None


def problem(description: str, status: int, detail: str) -> dict[str, Any]:
    """An OpenAPI `responses=` entry documenting a problem-details answer."""
    return {
        "model": Problem,
        "description": description,
        "content": {
            "application/problem+json": {
                "example": {
                    "type": f"https://launchcast.dev/problems/{status}",
                    "title": description,
                    "status": status,
                    "detail": detail,
                }
            }
        },
    }


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: problem("Unauthorized", 401, "missing X-API-Key header"),
    403: problem("Forbidden", 403, "this key has role 'read', the 'write' role is needed"),
}
VALIDATION_ERROR: dict[int | str, dict[str, Any]] = {
    422: problem("Validation failed", 422, "invalid fields: products[0].product_id"),
}
