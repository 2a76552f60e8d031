"""`launchcast forecast --all`: forecasts for every catalogue product into the database."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from store.settings import get_settings

console = Console()
err = Console(stderr=True)


def forecast_command(
    all_products: bool = typer.Option(
        False, "--all/--no-all", help="Forecast every catalogue product into the `forecasts` table."
    ),
    horizon: int = typer.Option(12, min=1, help="Steps to forecast."),
    force: bool = typer.Option(False, help="Recompute products already forecast by this model."),
) -> None:
    """Bulk forecasts, resumable (products done by the same model are skipped) and idempotent."""
    from service.bulk import forecast_catalogue  # loads LightGBM: only when forecasting
    from store import registry
    from store.session import get_sessionmaker

    if not all_products:
        raise typer.BadParameter("pass --all (single products: POST /v1/forecasts)")
    settings = get_settings()
    if horizon > settings.max_horizon:
        raise typer.BadParameter(
            f"{horizon} is above the maximum of {settings.max_horizon}", param_hint="'--horizon'"
        )
    with get_sessionmaker(settings.database_url)() as session:
        active = registry.active_version(session)
    if active is None:  # still forecast (stored under model 'none'), but say so first
        err.print(
            "[bold yellow]warning:[/] no active model: forecasts come from the launch curves "
            "(run `launchcast train` for the model's)",
            highlight=False,
            soft_wrap=True,
        )
    with Progress(
        TextColumn("[bold]forecasting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("forecast", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        summary = forecast_catalogue(settings, horizon, force=force, progress=report)
    console.print(
        f"model {summary.model_version}: {summary.written} products forecast, "
        f"{summary.skipped} already done, {summary.total} in the catalogue "
        "(table `forecasts`)"
    )
