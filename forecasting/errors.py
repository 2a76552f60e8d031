"""Domain errors of the forecasting core; the service maps them to HTTP in one handler."""


class ForecastingError(Exception):
    """Base class: a request the core cannot answer as asked."""

    # Each entry of `errors` names a field relative to one query ("history",
    # "analogues[0].product_id") with "index" the query's position; the service writes the
    # API path (the core knows no API paths).
    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class InvalidHistory(ForecastingError):
    """Observed history that cannot be used (dated before launch, not finite, ...)."""


class InvalidAnalogue(ForecastingError):
    """A pinned or excluded analogue that is unknown, or launched after the product."""


class EmptyCatalogue(ForecastingError):
    """Too few products with sales to learn from."""


class ArtifactError(ForecastingError):
    """A model artifact that is missing, corrupted or fails its checksum."""
