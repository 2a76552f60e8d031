"""`launchcast demo`: from nothing to a trained model and the API docs, on the embedded default."""

from __future__ import annotations

import typer
from rich.console import Console

from cli.serve import serve_command
from cli.train import print_backtest, stage_progress
from store.settings import get_settings

console = Console()
# The smallest catalogue training accepts (training/data.py's MIN_PRODUCTS; not imported here,
# so that the CLI starts without pandas).
MIN_DEMO_PRODUCTS = 20


def demo_command(
    products: int = typer.Option(
        2000,
        min=MIN_DEMO_PRODUCTS,
        help=f"Products in the generated demo catalogue (at least {MIN_DEMO_PRODUCTS}).",
    ),
    seed: int = typer.Option(7, help="Seed of the demo catalogue."),
    retrain: bool = typer.Option(False, help="Train even if a model is already active."),
    serve: bool = typer.Option(True, help="Serve the API afterwards (--no-serve to stop there)."),
    host: str = typer.Option("127.0.0.1", help="Address to serve on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to serve on."),
) -> None:
    """Migrate the database, load a generated demo catalogue, train, and serve /docs."""
    # Imported here: pandas and the training stack load only when the command runs.
    from sqlalchemy import func, select

    from cli.errors import redacted
    from forecasting.errors import EmptyCatalogue
    from forecasting.synthetic import generate_catalogue
    from store import migrations, registry
    from store.ingest import import_frames
    from store.models import Product
    from store.session import get_sessionmaker
    from training.job import run_training

    settings = get_settings()
    migrations.upgrade(settings.database_url)
    console.print(f"database ready: {redacted(settings.database_url)}", highlight=False)
    sessions = get_sessionmaker(settings.database_url)
    with sessions() as session:
        existing = session.scalar(select(func.count()).select_from(Product)) or 0
        if existing:
            console.print(
                f"catalogue already has {existing} products; not generating another "
                f"(to start over, {start_over(settings.database_url)})",
                highlight=False,
            )
        else:
            with console.status(f"generating and importing {products} demo products"):
                frames = generate_catalogue(products, seed=seed)
                summary = import_frames(session, *frames)
                session.commit()
            console.print(
                f"imported {summary.products.inserted} products and "
                f"{summary.sales.inserted} sales observations"
            )
        active = registry.active_version(session)
    if active is None or retrain:
        try:
            with stage_progress("training") as report:
                outcome = run_training(settings, trigger="demo", progress=report)
        except EmptyCatalogue as exc:
            if not existing:
                raise
            raise EmptyCatalogue(
                f"{exc}; the database already had these {existing} products, so no demo "
                f"catalogue was generated: to start over, {start_over(settings.database_url)}"
            ) from exc
        print_backtest(outcome.metrics)
        console.print(f"model [bold]{outcome.version}[/] is {outcome.status}: {outcome.reason}")
    else:
        console.print(f"model {active.version} is already active (--retrain to train again)")
    if serve:
        console.print(f"API docs: [bold]http://{host}:{port}/docs[/]")
        serve_command(host=host, port=port, workers=1, worker=True)


def start_over(database_url: str) -> str:
    """How to give `demo` an empty database: remove the SQLite file, or point elsewhere."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return f"remove {url.database} or set LAUNCHCAST_DATABASE_URL to another database"
    return "set LAUNCHCAST_DATABASE_URL to an empty database"
