"""API-key auth: keys are stored as SHA-256 digests and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from starlette.datastructures import Headers

from service.api.deps import SettingsDep
from store.settings import Role

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
CHALLENGE = {"WWW-Authenticate": "APIKey"}


def hash_key(key: str) -> str:
    """The form keys are stored in: 'sha256:<hex digest>'."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "lc_" + secrets.token_urlsafe(32)


def role_of(key: str, keys: dict[str, Role]) -> Role | None:
    """The role of `key`, comparing against every stored digest so timing reveals nothing."""
    presented = hash_key(key)
    found: Role | None = None
    for digest, role in keys.items():
        if hmac.compare_digest(presented, digest):
            found = role
    return found


def presented_key(headers: Headers) -> str | None:
    """The key a request presents: its X-API-Key header without the spaces or tabs HTTP allows
    around a value (RFC 9110, 5.5; uvicorn's httptools parser keeps trailing ones), None
    without one (or an empty one), and a 401 for several headers: which one counts would be
    a guess, and a proxy in front may guess the other way."""
    values = headers.getlist("x-api-key")
    if len(values) > 1:
        raise HTTPException(401, f"{len(values)} X-API-Key headers: send one", CHALLENGE)
    return (values[0].strip(" \t") or None) if values else None


def require(role: Role) -> Callable[..., Awaitable[Role]]:
    """A dependency that admits requests whose key carries `role` or a higher one, and gives
    the caller's role (admin when no keys are configured: loopback use, everything allowed)."""

    # async: hashing a key is microseconds of CPU, not worth a thread-pool round trip.
    async def check(
        settings: SettingsDep,
        request: Request,
        # Declared for the OpenAPI document's security scheme; the key is `presented_key`'s.
        _header: Annotated[str | None, Security(api_key_header)] = None,
    ) -> Role:
        if not settings.api_keys:
            return Role.admin  # no keys configured: only allowed on loopback, checked at start-up
        key = presented_key(request.headers)
        if key is None:
            raise HTTPException(401, "missing X-API-Key header", CHALLENGE)
        granted = role_of(key, settings.api_keys)
        if granted is None:
            raise HTTPException(401, "unknown API key", CHALLENGE)
        if granted.rank < role.rank:
            raise HTTPException(403, f"this key has role '{granted}', the '{role}' role is needed")
        return granted

    return check


ForecastAccess = Depends(require(Role.forecast))
ReadAccess = Depends(require(Role.read))
WriteAccess = Depends(require(Role.write))
AdminAccess = Depends(require(Role.admin))


# The caller's role, for routes whose answer depends on it (the forecast role's privacy).
CallerRole = Annotated[Role, ForecastAccess]
