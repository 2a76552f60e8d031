"""Domain errors of the forecasting core; the service maps them to HTTP in one handler."""


class ForecastingError(Exception):
    """Base class: a request the core cannot answer as asked."""

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class InvalidHistory(ForecastingError):
    """Observed history that cannot be used (dated before launch, not finite, ...)."""


class EmptyCatalogue(ForecastingError):
    """Too few products with sales to learn from."""


class ArtifactError(ForecastingError):
    """A model artifact that is missing, corrupted or fails its checksum."""
