"""`launchcast train` and `evaluate`: the training job from the command line."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import annotated_types
import typer
from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from store.settings import Settings, get_settings

if TYPE_CHECKING:
    pass

# The training stack (pandas, LightGBM, statsforecast) is imported inside each command, so that
# `launchcast --help` and the light commands start in a fraction of a second.

console = Console()


@contextmanager
def stage_progress(title: str) -> Iterator[Callable[[str, float], None]]:
    """A Rich progress bar driven by the job's (stage, fraction done) callbacks."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(title, total=1.0)

        def report(stage: str, done: float) -> None:
            progress.update(task, completed=min(done, 1.0), description=f"{title}: {stage}")

        yield report


def holdout_fraction_option(value: float | None) -> float | None:
    """A share within the bounds of LAUNCHCAST_BACKTEST_HOLDOUT_FRACTION, checked by that
    setting's own field (strictly between 0 and 1: 0 would hold nothing out, 1 leave nothing
    to train on)."""
    if value is None:
        return value
    field = Settings.model_fields["backtest_holdout_fraction"]
    try:
        return TypeAdapter(Annotated[float, *field.metadata]).validate_python(value)
    except ValidationError:
        raise typer.BadParameter(f"{value} is not in the range {bounds(field)}.") from None


def bounds(field: FieldInfo) -> str:
    """A field's numeric bounds as Click writes a range: `0<x<1`, `x>=1`."""
    low = high = ""
    for constraint in field.metadata:
        if isinstance(constraint, annotated_types.Gt):
            low = f"{constraint.gt}<"
        elif isinstance(constraint, annotated_types.Ge):
            low = f"{constraint.ge}<="
        elif isinstance(constraint, annotated_types.Lt):
            high = f"<{constraint.lt}"
        elif isinstance(constraint, annotated_types.Le):
            high = f"<={constraint.le}"
    return f"{low}x{high}"


HOLDOUT_FRACTION = typer.Option(
    None,
    callback=holdout_fraction_option,
    help="Share of recent launches held out, "
    f"{bounds(Settings.model_fields['backtest_holdout_fraction'])} (default: "
    "LAUNCHCAST_BACKTEST_HOLDOUT_FRACTION).",
)


def train_command(
    engine: str = typer.Option("local", help="local, or dask (LightGBM's Dask estimators)."),
    dask_address: str | None = typer.Option(
        None, help="Dask scheduler address; without it, a LocalCluster on this machine."
    ),
    cutoff: dt.datetime | None = typer.Option(
        None,
        formats=["%Y-%m-%d"],
        help="Backtest split date (default: hold out the most "
        "recent launches, LAUNCHCAST_BACKTEST_HOLDOUT_FRACTION).",
    ),
    holdout_fraction: float | None = HOLDOUT_FRACTION,
) -> None:
    """Train on the catalogue, backtest by launch date, publish a model version through the gate."""
    from training.job import CutoffOutOfRange, run_training

    if engine not in ("local", "dask"):
        raise typer.BadParameter(f"'{engine}' is not local or dask", param_hint="--engine")
    settings = get_settings()
    try:
        with stage_progress("training") as report:
            outcome = run_training(
                settings,
                trigger="cli",
                engine=engine,
                dask_address=dask_address,
                cutoff=cutoff.date() if cutoff else None,
                holdout_fraction=holdout_fraction,
                progress=report,
            )
    except CutoffOutOfRange as exc:
        raise typer.BadParameter(str(exc), param_hint="'--cutoff'") from exc
    print_backtest(outcome.metrics)
    console.print(
        f"model [bold]{outcome.version}[/] is [bold]{outcome.status}[/]: {outcome.reason}",
        highlight=False,
    )


def print_backtest(metrics: dict[str, Any]) -> None:
    """The backtest table, then the served method and why, warm-up and established products."""
    from training.report import (
        metrics_table,
        selection_lines,
        statistical_line,
        total_band_line,
        warmup_lines,
    )

    console.print(metrics_table(metrics))
    totals = [line for line in [total_band_line(metrics)] if line]
    lines = (*selection_lines(metrics), *totals, *warmup_lines(metrics), statistical_line(metrics))
    for line in lines:
        console.print(line, highlight=False)


def evaluate_command(
    output: Path = typer.Option(Path("reports/backtest.html"), help="Where to write the HTML."),
    cutoff: dt.datetime | None = typer.Option(None, formats=["%Y-%m-%d"], help="Split date."),
    holdout_fraction: float | None = HOLDOUT_FRACTION,
    samples: int = typer.Option(12, min=0, help="Test products to plot."),
) -> None:
    """Backtest without publishing: a table here and an HTML report with plots."""
    from forecasting.backtest import backtest
    from store.session import get_sessionmaker
    from training.data import load_training_data
    from training.job import CutoffOutOfRange, check_cutoff
    from training.report import write_html
    from training.statistical import evaluate_established

    check_output(output)  # before the backtest's minutes, not after them
    settings = get_settings()
    with get_sessionmaker(settings.database_url)() as session:
        data = load_training_data(session)
    try:
        check_cutoff(data, cutoff.date() if cutoff else None)
    except CutoffOutOfRange as exc:
        raise typer.BadParameter(str(exc), param_hint="'--cutoff'") from exc
    with stage_progress("backtest") as report:
        result = backtest(
            data.products,
            data.sales,
            settings.forecaster_config(),
            cutoff=cutoff.date() if cutoff else None,
            holdout_fraction=holdout_fraction or settings.backtest_holdout_fraction,
            progress=report,
            n_samples=samples,
        )
        config = settings.forecaster_config()
        report("statistical models on established products", 1.0)
        metrics = {
            **result.metrics,
            # As `train` scores them (LAUNCHCAST_STATISTICAL_BACKTEST_SERIES), so the two agree.
            "statistical": evaluate_established(
                data.products,
                data.sales,
                config.freq,
                config.launch_steps,
                config.launch_steps,
                max_series=settings.statistical_backtest_series,
            ),
        }
    print_backtest(metrics)
    path = write_html(metrics, result.samples, output)
    console.print(f"report written to [bold]{path}[/]")


def check_output(path: Path) -> None:
    """Refuse a report path that writing it would refuse: a directory, or a file where its
    directory should be (the missing directories are created, as `mkdir -p` would)."""

    def refuse(reason: str) -> typer.BadParameter:
        return typer.BadParameter(reason, param_hint="'--output'")

    if path.is_dir():
        raise refuse(f"{path} is a directory; name the HTML file to write")
    existing = next((parent for parent in path.parents if parent.exists()), Path("."))
    if not existing.is_dir():
        raise refuse(f"{existing} is a file, not a directory: cannot write {path}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise refuse(f"{existing} is not writable: cannot write {path}")
