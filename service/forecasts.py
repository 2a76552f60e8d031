"""The forecast use case: turn requests into core queries, predict, and check every number.

Resolution rules (API.md): a `product_id` naming a catalogue product with neither attributes
nor a launch date uses the stored ones and the stored sales; otherwise the request says what
the product is. A new product needs a launch date, or history whose first date stands for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from forecasting.baseline import CurveBaseline
from forecasting.model import LaunchForecaster
from forecasting.periods import Frequency, step_of, step_start
from forecasting.queries import unknown_ids
from forecasting.types import Analogue, ForecastQuery, ProductForecast
from service.errors import InvalidItems
from service.model_store import ModelStore
from store.fields import LATEST_DATE
from store.models import Product, SalesObservation

NO_SALES_WARNING = "the catalogue has no sales yet: the forecast is zero until some are recorded"


def quantile_key(level: float) -> str:
    """A quantile level's name in an answer: the shortest text that reads back as that very
    level (0.1 -> "0.1"), so it is what the client asked for and two levels never share a name
    (six significant digits made 0.12345678 and 0.12345679 both "0.123457")."""
    return repr(float(level))


@dataclass(frozen=True)
class RequestedProduct:
    """One product as the request gave it (fields are None when not given)."""

    product_id: str | None
    launch_date: dt.date | None
    attributes: dict[str, Any] | None
    history: list[tuple[dt.date, float]] | None
    # The planner's like items (id, relative weight) and the products never to borrow from.
    analogues: tuple[tuple[str, float], ...] = ()
    exclude_analogues: tuple[str, ...] = ()


@dataclass
class Answer:
    model_version: str | None
    forecasts: list[ProductForecast] = field(default_factory=list)


def catalogue_ids(products: Sequence[RequestedProduct]) -> list[str]:
    """The products the request leaves incomplete: only these are read from the catalogue
    (cold-start requests that say everything never touch the database)."""
    return [
        p.product_id
        for p in products
        if p.product_id and (p.attributes is None or p.launch_date is None)
    ]


# Said on a forecast key's answer about a catalogue product (API.md, Privacy).
WITHHELD_SALES = (
    "answered from the product's attributes and launch date only: a forecast key is not "
    "given a known product's own sales (send them as history if you hold them)"
)


def uses_stored_sales(product: RequestedProduct) -> bool:
    """Whether the request leaves a catalogue product's sales to be read from the database."""
    return bool(
        product.product_id
        and product.attributes is None
        and product.launch_date is None
        and product.history is None
    )


def resolve_queries(
    session: Session | None,
    products: Sequence[RequestedProduct],
    private: bool = False,
    sales_until: dt.date | None = None,
    freq: Frequency = "W",
) -> list[ForecastQuery]:
    """Core queries for the request, filling catalogue products from the database.

    `session` may be None when `catalogue_ids(products)` is empty. `private` (the forecast
    role): a catalogue product's stored sales are not used, so the answer reproduces none of
    them (its attributes and launch date are). `sales_until`, `freq`: see `resolve_with_notes`.
    """
    return resolve_with_notes(session, products, private, sales_until=sales_until, freq=freq)[0]


def resolve_with_notes(
    session: Session | None,
    products: Sequence[RequestedProduct],
    private: bool = False,
    today: dt.date | None = None,
    sales_until: dt.date | None = None,
    freq: Frequency = "W",
) -> tuple[list[ForecastQuery], dict[int, str]]:
    """`resolve_queries`, with a warning for each product (by index) whose launch date was
    assumed: a catalogue product stored without a launch date or sales is forecast as if it
    launched `today` (the contract: an accepted id can always be forecast).

    `sales_until` (the newest sale the model learnt from): a catalogue product whose stored
    sales stop in a `freq` period before that date's has sold nothing since, as far as the
    catalogue knows; its history is read as zeros up to that date (as the backtest reads it),
    so its forecast starts after it rather than in the past, and a product that stopped
    selling is seen to have stopped.
    The answer says so.
    """
    ids = catalogue_ids(products)
    if ids and session is None:
        raise ValueError("these products need the catalogue: pass a session")
    stored = _stored_products(session, ids) if session is not None else {}
    errors: list[dict[str, str]] = []
    notes: dict[int, str] = {}
    queries = []
    for index, product in enumerate(products):
        query = _complete(product)
        undated = _undated_attributes(product, stored) if query is None else None
        if undated is not None:
            launch = today or dt.date.today()
            notes[index] = undated_warning(product.product_id or "", launch)
            dated = replace(product, launch_date=launch, attributes=undated)
            query = _resolve(index, dated, stored, errors)
        elif query is None:
            query = _resolve(index, product, stored, errors, private)
            if query is not None and sales_until is not None and uses_stored_sales(product):
                query, note = _silent_until(query, sales_until, freq)
                if note:
                    notes[index] = note
        if query is not None:
            queries.append(query)
    if errors:
        raise InvalidItems("cannot forecast: " + ", ".join(e["field"] for e in errors[:20]), errors)
    return queries, notes


def _silent_until(query: ForecastQuery, day: dt.date, freq: Frequency) -> tuple[ForecastQuery, str]:
    """The query with its stored history read as zeros up to `day` (see `resolve_with_notes`),
    and what the answer says about it; the query as it is when its sales reach `day`'s period."""
    if not query.history:
        return query, ""
    last = query.history[-1][0]
    if step_of(query.launch_date, last, freq) >= step_of(query.launch_date, day, freq):
        return query, ""
    note = (
        f"'{query.product_id}' has no sales stored after {last.isoformat()}: read as selling "
        f"nothing up to {day.isoformat()}, the newest sale the model learnt from, and forecast "
        "from there (store its sales, or send them as history, if it did sell)"
    )
    return replace(query, history=(*query.history, (day, 0.0))), note


def _undated_attributes(
    product: RequestedProduct,
    stored: dict[str, tuple[dt.date | None, dict[str, Any], list[tuple[dt.date, float]]]],
) -> dict[str, Any] | None:
    """The stored attributes of a catalogue product that nothing dates (stored with no launch
    date and no sales, left to the catalogue by the request, sent no history), else None."""
    known = stored.get(product.product_id) if product.product_id else None
    left_to_catalogue = product.attributes is None and product.launch_date is None
    if known is None or not left_to_catalogue or product.history or known[0] or known[2]:
        return None
    return known[1]


def undated_warning(product_id: str, launch: dt.date) -> str:
    return (
        f"'{product_id}' has no launch date and no sales yet: forecast as if it launched on "
        f"{launch.isoformat()} (store its launch_date to date the steps)"
    )


def _complete(product: RequestedProduct) -> ForecastQuery | None:
    """The query of a product the request says everything about, without history or pinned
    analogues (what `_resolve` gives it, without its checks: a batch of new products is
    mostly these), else None."""
    if (
        product.attributes is None
        or product.launch_date is None
        or product.history
        or product.analogues
    ):
        return None
    return ForecastQuery(
        launch_date=product.launch_date,
        attributes=dict(product.attributes),
        product_id=product.product_id,
        exclude_analogues=product.exclude_analogues,
    )


def _resolve(
    index: int,
    product: RequestedProduct,
    stored: dict[str, tuple[dt.date | None, dict[str, Any], list[tuple[dt.date, float]]]],
    errors: list[dict[str, str]],
    private: bool = False,
) -> ForecastQuery | None:
    where = f"products[{index}]"
    known = stored.get(product.product_id) if product.product_id else None
    use_catalogue = product.attributes is None and product.launch_date is None
    if use_catalogue and known is None:
        message = (
            f"'{product.product_id}' is not in the catalogue; give attributes and launch_date"
            if product.product_id
            else "give a catalogue product_id, or attributes and a launch_date"
        )
        errors.append({"field": f"{where}.product_id", "message": message})
        return None
    history = product.history
    if known is not None and use_catalogue:
        launch, attributes = known[0], known[1]
        if history is None and not private:
            history = known[2]
        if launch is None and known[2]:  # the contract: else the first sale's date
            launch = known[2][0][0]
    else:
        attributes = product.attributes or {}
        launch = product.launch_date or (known[0] if known else None)
    history = sorted(history or [])
    if launch is None:
        launch = history[0][0] if history else None
    if launch is None:
        errors.append(
            {"field": f"{where}.launch_date", "message": "a new product needs a launch_date"}
        )
        return None
    for j, (day, _) in enumerate(product.history or []):
        if day < launch:
            errors.append(
                {
                    "field": f"{where}.history[{j}].date",
                    "message": f"{day} is before the launch date {launch}",
                }
            )
    return ForecastQuery(
        launch_date=launch,
        attributes=dict(attributes),
        product_id=product.product_id,
        history=tuple(history),
        analogues=tuple(Analogue(pid, weight) for pid, weight in product.analogues),
        exclude_analogues=product.exclude_analogues,
    )


def unknown_analogues(
    store: ModelStore, products: Sequence[RequestedProduct]
) -> list[dict[str, str]]:
    """Every pinned or excluded analogue the model that would answer does not know, named as
    its refusal names it (`products[i].analogues[j].product_id`, `products[i].exclude_analogues
    [j]`), for all the products at once: the model itself stops at the first product it refuses.

    Blocking when no model is served (the launch curves may be fitted). None are unknown to the
    zero answer of a catalogue without sales, which borrows from no one.
    """
    if not any(p.analogues or p.exclude_analogues for p in products):
        return []
    served = store.model
    predictor = served.forecaster if served is not None else store.baseline()
    if predictor is None:
        return []
    catalogue = predictor.catalogue_
    errors = []
    for index, product in enumerate(products):
        pinned = [pid for pid, _ in product.analogues]
        found = unknown_ids(pinned, index, "analogues", catalogue, ".product_id")
        found += unknown_ids(product.exclude_analogues, index, "exclude_analogues", catalogue)
        errors += [
            {"field": f"products[{index}].{e['field']}", "message": e["message"]} for e in found
        ]
    return errors


def _stored_products(
    session: Session, ids: list[str]
) -> dict[str, tuple[dt.date | None, dict[str, Any], list[tuple[dt.date, float]]]]:
    if not ids:
        return {}
    found: dict[str, tuple[dt.date | None, dict[str, Any], list[tuple[dt.date, float]]]] = {}
    rows = session.execute(
        select(Product.product_id, Product.launch_date, Product.attributes).where(
            Product.product_id.in_(ids)
        )
    )
    for pid, launch, attributes in rows:
        found[pid] = (launch, attributes or {}, [])
    sales = session.execute(
        select(SalesObservation.product_id, SalesObservation.date, SalesObservation.quantity)
        .where(SalesObservation.product_id.in_(list(found)))
        .order_by(SalesObservation.product_id, SalesObservation.date)
    )
    for pid, day, quantity in sales:
        found[pid][2].append((day, float(quantity)))
    return found


def forecast(
    store: ModelStore,
    queries: Sequence[ForecastQuery],
    horizon: int,
    quantiles: Sequence[float],
    explain: bool,
    details: frozenset[str] = frozenset(),
    private: bool = False,
) -> Answer:
    """The active model's forecasts, or the launch-curve fallback when none is loaded.

    `details` ("curves", "drivers") imply `explain`; `private` is the forecast role: the core
    then draws each forecast from enough known products and returns none of them. A product
    whose steps would start after LATEST_DATE is forecast for those that start by then, with a
    warning (`steps_in_range`).
    """
    served = store.model  # taken once: the whole answer comes from this one model
    predictor = served.forecaster if served is not None else store.baseline()
    freq = store.settings.frequency
    fitting = [steps_in_range(q, horizon, freq) for q in queries]
    if predictor is None:
        zeros = [_zero(q, h, quantiles, store) for q, h in zip(queries, fitting, strict=True)]
        answer = Answer(None, zeros)
    else:
        options = PredictOptions(quantiles, explain, details, private)
        results = _predict_in_range(predictor, queries, horizon, fitting, options)
        answer = Answer(served.version if served is not None else None, sanitise_all(results))
    _warn_cut_short(answer.forecasts, fitting, horizon)
    if store.metrics is not None:
        store.metrics.count_forecasts(result.method for result in answer.forecasts)
    return answer


def sanitise_all(results: list[ProductForecast]) -> list[ProductForecast]:
    """`sanitise` every result, checking the whole answer at once first: the models already
    answer soundly, so usually nothing needs fixing and a thousand products cost one pass."""
    if results and _all_sound(results) and _totals_sound(results):
        return results
    return [sanitise(r) for r in results]


def _all_sound(results: list[ProductForecast]) -> bool:
    first = list(results[0].quantiles)
    levels = sorted(first)
    # Products of one answer list their levels in the same order: one sort for all of them.
    if any(list(r.quantiles) != first for r in results) and any(
        sorted(r.quantiles) != levels for r in results
    ):
        return False
    # One (..., 1 + n_levels) table for the whole answer: point, then quantiles by level.
    table = _answer_table(results, levels)
    finite_non_negative = bool(np.isfinite(table).all() and (table >= 0).all())
    return finite_non_negative and bool((np.diff(table[..., 1:], axis=-1) >= 0).all())


def _totals_sound(results: list[ProductForecast]) -> bool:
    """Every total band finite, non-negative and monotone in its level."""
    bands = [r.total_quantiles for r in results if r.total_quantiles]
    if not bands:
        return True
    levels = sorted(bands[0])
    try:
        table = np.array([[band[q] for q in levels] for band in bands], dtype=float)
    except KeyError:  # bands at other levels than the first's
        return False
    return bool(
        np.isfinite(table).all() and (table >= 0).all() and (np.diff(table, axis=1) >= 0).all()
    )


def _answer_table(results: list[ProductForecast], levels: list[float]) -> np.ndarray:
    """(products, points, 1 + n_levels) from one array per column when every product has as
    many points (a batch's usual shape), else (all points, 1 + n_levels) product by product."""
    try:
        columns = [np.array([r.point for r in results], dtype=float)]
        columns += [np.array([r.quantiles[q] for r in results], dtype=float) for q in levels]
        if all(column.ndim == 2 for column in columns):
            return np.stack(columns, axis=-1)
    except ValueError:  # products with different numbers of points
        pass
    return np.concatenate(
        [np.column_stack([r.point, *(r.quantiles[q] for q in levels)]) for r in results]
    )


def sanitise(result: ProductForecast) -> ProductForecast:
    """Finite, non-negative numbers and quantiles monotone in their level, whatever the model."""
    result.point = _finite_non_negative(result.point)
    if result.quantiles:
        levels = sorted(result.quantiles)
        stacked = _finite_non_negative(np.column_stack([result.quantiles[q] for q in levels]))
        stacked.sort(axis=1)
        result.quantiles = {q: stacked[:, j] for j, q in enumerate(levels)}
    if result.total_quantiles:
        total = result.total_quantiles
        levels = sorted(total)
        values = np.sort(_finite_non_negative(np.array([total[q] for q in levels])))
        result.total_quantiles = {q: float(v) for q, v in zip(levels, values, strict=True)}
    return result


def _finite_non_negative(values: np.ndarray) -> np.ndarray:
    """NaN, infinities and negatives become 0 (np.where: cheaper than nan_to_num per product)."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values) & (values > 0), values, 0.0)


def _zero(
    query: ForecastQuery, horizon: int, quantiles: Sequence[float], store: ModelStore
) -> ProductForecast:
    freq = store.settings.frequency
    observed = max((step_of(query.launch_date, d, freq) for d, _ in query.history), default=0)
    steps = np.arange(observed + 1, observed + horizon + 1)
    return ProductForecast(
        product_id=query.product_id,
        method="global_curve",
        steps=steps,
        start_dates=[step_start(query.launch_date, int(s), freq) for s in steps],
        point=np.zeros(horizon),
        quantiles={q: np.zeros(horizon) for q in quantiles},
        warnings=[NO_SALES_WARNING],
    )


# --- the supported calendar's end ---------------------------------------------------------------
# API.md supports dates up to LATEST_DATE (2199-12-31). A launch near it with a long horizon, or
# history dated late (the forecast starts after it), would have dated steps beyond it. Each such
# product is forecast for the steps that start by then, with a warning: the request is valid
# (its dates and horizon are), and one product near the end must not refuse a whole batch.


@dataclass(frozen=True)
class PredictOptions:
    """What a predict call takes besides the queries and the horizon."""

    quantiles: Sequence[float]
    explain: bool
    details: frozenset[str]
    private: bool


def steps_in_range(query: ForecastQuery, horizon: int, freq: Frequency) -> int:
    """How many of the `horizon` steps after the query's history start by LATEST_DATE
    (0: none). Integer arithmetic: no date beyond the range is ever built."""
    observed = max((step_of(query.launch_date, d, freq) for d, _ in query.history), default=0)
    fits = _steps_in_range(query.launch_date, freq) - max(observed, 0)
    return max(0, min(horizon, fits))


def _steps_in_range(launch: dt.date, freq: Frequency) -> int:
    """How many steps from `launch` start on or before LATEST_DATE (step_start's calendar)."""
    if freq == "M":
        # Step k starts in the (k-1)-th month after the launch's; any day of December 2199
        # is in range, so whole months count.
        return (LATEST_DATE.year - launch.year) * 12 + LATEST_DATE.month - launch.month + 1
    return (LATEST_DATE - launch).days // (7 if freq == "W" else 1) + 1


def _predict_in_range(
    predictor: LaunchForecaster | CurveBaseline,
    queries: Sequence[ForecastQuery],
    horizon: int,
    fitting: list[int],
    options: PredictOptions,
) -> list[ProductForecast]:
    """`predictor.predict` of every query, each for the steps that fit the calendar: one call
    when all fit (the usual case), else one per shorter horizon, so a cut-short product's
    total, bands and drivers are those of the steps it is answered with."""
    args = (options.quantiles, options.explain, options.details, options.private)
    if all(h == horizon for h in fitting):
        return predictor.predict(queries, horizon, *args)
    results: dict[int, ProductForecast] = {}
    for h in sorted(set(fitting)):
        rows = [i for i, fits in enumerate(fitting) if fits == h]
        # No step fits: predicted for one (the core needs one) and emptied below.
        part = predictor.predict([queries[i] for i in rows], max(h, 1), *args)
        for i, result in zip(rows, part, strict=True):
            results[i] = result if h else _no_points(result)
    return [results[i] for i in range(len(queries))]


def _no_points(result: ProductForecast) -> ProductForecast:
    """`result` with its points, and what is summed over them, taken out."""
    result.steps, result.start_dates, result.point = result.steps[:0], [], result.point[:0]
    result.quantiles = {q: values[:0] for q, values in result.quantiles.items()}
    if result.total_quantiles is not None:
        result.total_quantiles = {q: 0.0 for q in result.total_quantiles}
    result.drivers = None
    result.neighbours = [
        replace(n, curve=()) if n.curve is not None else n for n in result.neighbours
    ]
    return result


def _warn_cut_short(results: list[ProductForecast], fitting: list[int], horizon: int) -> None:
    for result, h in zip(results, fitting, strict=True):
        if h < horizon:
            result.warnings.append(cut_short_warning(h, horizon))


def cut_short_warning(fitting: int, horizon: int) -> str:
    return (
        f"only {fitting} of the {horizon} steps asked for start by {LATEST_DATE}, the last date "
        "the service supports: the forecast stops there"
    )
