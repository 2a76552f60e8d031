"""Batch bodies: a 422 names every invalid item, its fields' errors and the batch's together.

FastAPI validates a body before the endpoint runs, so a batch with one malformed item never
reached the batch-level checks (duplicates, unknown products, dates before launch): its 422
named the malformed item only, where the contract (API.md, Conventions) asks for every invalid
item. On a `BatchRoute` whose endpoint declares its `BatchRules`, a body that fails validation
is validated again item by item, the batch-level checks run on the items that passed, and one
422 names both kinds of error, in item order. Nothing is written: the endpoint never runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from sqlalchemy.orm import Session
from starlette.datastructures import State

from service.errors import InvalidItems, invalid_fields, request_fields, validation_errors
from store.ingest import ItemError, Locator, api_locator, check_valid_items, parse_records
from store.session import get_sessionmaker
from store.settings import Settings

T = TypeVar("T")
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


@dataclass(frozen=True)
class BatchRules(Generic[T]):
    """What a batch endpoint checks beyond each item's fields."""

    collection: str  # the body's list of items: "products", "observations"
    item: TypeAdapter[T]
    # Errors of the items given, named by `Locator(index among them, field)`; the session is
    # opened lazily: a check that reads nothing connects to nothing.
    check: Callable[[Session, Sequence[T], Locator], list[ItemError]]
    # Errors only the app's own state can tell (POST /v1/forecasts: pinned analogues the model
    # that would answer does not know), given `request.app.state`, after `check`'s.
    served_check: Callable[[State, Sequence[T], Locator], list[ItemError]] | None = None


_RULES: dict[Callable[..., Any], BatchRules[Any]] = {}


def batch_rules(rules: BatchRules[Any]) -> Callable[[Endpoint], Endpoint]:
    """Declare an endpoint's batch; its route must be a `BatchRoute` for this to take effect."""

    def declare(endpoint: Endpoint) -> Endpoint:
        _RULES[endpoint] = rules
        return endpoint

    return declare


class BatchRoute(APIRoute):
    """A route whose 422 for an invalid body also names the batch-level errors of the items
    that are valid (routes without `batch_rules` answer as any route does)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                failure = exc
            self.refuse_invalid_body(request, failure)
            rules = _RULES.get(self.endpoint)
            if rules is None:
                raise failure
            settings: Settings = request.app.state.settings
            items = _items(failure, rules.collection)
            if items is not None and len(items) > settings.max_batch_items:
                # Refused whole for its size (the contract: the limit in `detail`), with the
                # malformed items' errors beside, since the client will have to mend those too.
                raise over_limit(settings, failure, rules.collection, len(items), request)
            found = await run_in_threadpool(
                batch_errors, settings, failure, rules, request.app.state
            )
            if not found:
                raise failure  # field errors only: FastAPI's answer, unchanged
            fields = validation_errors(failure, request_fields(request.app))
            errors = in_item_order(rules.collection, fields, found)
            raise InvalidItems(invalid_fields(errors), errors)

        return handle

    def refuse_invalid_body(self, request: Request, failure: RequestValidationError) -> None:
        """Raise the refusal a body that failed validation gets before its errors are looked
        into (the items' lookups included); nothing by default."""


def over_limit(
    settings: Settings,
    failure: RequestValidationError,
    collection: str,
    n_items: int,
    request: Request,
) -> InvalidItems:
    """The 422 of a batch over `max_batch_items` whose items also failed validation."""
    limit = settings.max_batch_items
    fields = validation_errors(failure, request_fields(request.app))
    errors = [{"field": collection, "message": f"at most {limit} items"}, *fields]
    return InvalidItems(f"{n_items} {collection} in one batch; the limit is {limit}", errors)


def batch_errors(
    settings: Settings,
    failure: RequestValidationError,
    rules: BatchRules[Any],
    state: State,
) -> list[ItemError]:
    """The batch-level errors of the items of a body that failed validation which are valid
    themselves (blocking: it may read the catalogue)."""
    items = _items(failure, rules.collection)
    # An over-limit batch is refused whole whatever its items: not worth checking one by one.
    if items is None or len(items) > settings.max_batch_items:
        return []
    locate = api_locator(rules.collection)
    parsed = parse_records(items, rules.item, locate)
    if not parsed.valid:
        return []
    with get_sessionmaker(settings.database_url)() as session:
        found = check_valid_items(parsed, partial(rules.check, session), locate)
    if rules.served_check is not None:
        found += check_valid_items(parsed, partial(rules.served_check, state), locate)
    return found


def _items(failure: RequestValidationError, collection: str) -> list[Any] | None:
    """The body's list of items, or None when there is none to check."""
    # Only a body's failure: FastAPI has then run the route's dependencies (auth among them);
    # a failed header or query parameter may mean they did not run, and nothing is looked up.
    if any(tuple(error.get("loc", ()))[:1] != ("body",) for error in failure.errors()):
        return None
    body = failure.body  # malformed JSON leaves its text here, not a dict
    items = body.get(collection) if isinstance(body, dict) else None
    return items if isinstance(items, list) else None


def in_item_order(
    collection: str, fields: list[dict[str, str]], found: list[ItemError]
) -> list[dict[str, str]]:
    """Field and batch-level errors merged, by item index (errors of no item first)."""
    keyed = [(_item_index(collection, error["field"]), error) for error in fields]
    keyed += [(e.index, {"field": e.field, "message": e.message}) for e in found]
    return [error for _, error in sorted(keyed, key=lambda pair: pair[0])]


def _item_index(collection: str, field: str) -> int:
    """3 for "products[3].launch_date"; -1 for a field of no item ("horizon", "body")."""
    match = re.match(rf"{re.escape(collection)}\[(\d+)\]", field)
    return int(match.group(1)) if match else -1
