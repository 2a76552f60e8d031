"""Training at scale: `launchcast train` on synthetic catalogues of 10k to 100k products.

For each size: the project's generator makes a catalogue (up to 52 weekly periods of history per
product), the project's importer writes it into a fresh SQLite database, then `launchcast train`
runs as a subprocess against that database and a scratch artifact directory. Measured per run:
wall seconds, the peak RSS of the training process and its children (its process tree polled
through /proc, and the kernel's own peak from wait4), and the per-stage seconds and model counts
when the run's metrics carry them ("stages"). Generating and importing are timed apart: they are
not part of the target. A run that outlives --timeout is killed and recorded as missed.

Targets (issue 10): 100,000 products in <= 600 s and <= 4 GB peak RSS; 20,000 in <= 180 s.

    python -m benchmarks.training_scale [--sizes 10000,20000,50000,100000] [--timeout 1200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: the PNG is the only output
import matplotlib.pyplot as plt
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter
from sqlalchemy import select

from benchmarks.common import RESULTS, write_result
from forecasting.synthetic import generate_catalogue
from store import migrations
from store.ingest import import_frames
from store.models import ModelVersion, TrainingRun
from store.session import get_engine, get_sessionmaker

NAME = "training_scale"
DEFAULT_SIZES = (10_000, 20_000, 50_000, 100_000)
HISTORY_PERIODS = 52
GB = 1024**3
# (products, seconds, GB or None): the targets, printed beside each run.
TARGETS = ((20_000, 180.0, None), (100_000, 600.0, 4.0))
# Products imported per transaction: bounds the importer's memory at 100k products.
IMPORT_CHUNK = 10_000
POLL_SECONDS = 0.2
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class RunResult:
    products: int
    sales_rows: int = 0
    generate_seconds: float = 0.0
    import_seconds: float = 0.0
    train_seconds: float = 0.0
    peak_rss_bytes: int = 0
    cpu_seconds: float = 0.0  # user + system, the process and its waited-for children
    mean_load: float | None = None  # the 1-minute load average, sampled while it trained
    outcome: str = "ok"  # ok, missed (killed at the timeout) or failed (non-zero exit)
    exit_code: int | None = None
    run_status: str | None = None  # the training run's row: succeeded, failed, ...
    model_status: str | None = None  # the published version: active, rejected, ...
    stages: list[dict[str, Any]] = field(default_factory=list)
    models_fitted: int | None = None
    # The run's own backtest: its served method's WAPE on the held-out launches and the
    # boosting rounds its cross-validation chose (a faster run must not buy speed with these).
    backtest_wape: float | None = None
    rounds: int | None = None
    error_tail: str | None = None

    @property
    def peak_rss_gb(self) -> float:
        return self.peak_rss_bytes / GB


def target_for(products: int) -> tuple[float | None, float | None]:
    """(seconds, GB) the issue sets for this size, or (None, None) when it sets none."""
    for size, seconds, gb in TARGETS:
        if size == products:
            return seconds, gb
    return None, None


def meets_target(run: RunResult) -> bool | None:
    seconds, gb = target_for(run.products)
    if seconds is None:
        return None
    fast = run.outcome == "ok" and run.train_seconds <= seconds
    return fast and (gb is None or run.peak_rss_gb <= gb)


# ---------------------------------------------------------------- data


def load_catalogue(
    url: str, n_products: int, seed: int, history_periods: int
) -> tuple[int, float, float]:
    """Generate and import a catalogue; (sales rows, generate seconds, import seconds)."""
    started = time.perf_counter()
    products, sales = generate_catalogue(n_products, seed=seed, history_periods=history_periods)
    generated = time.perf_counter()
    migrations.upgrade(url)
    sessions = get_sessionmaker(url)
    for start in range(0, len(products), IMPORT_CHUNK):
        chunk = products.iloc[start : start + IMPORT_CHUNK]
        chunk_sales = sales[sales["product_id"].isin(chunk["product_id"])]
        with sessions() as session:
            summary = import_frames(session, chunk, chunk_sales)
            if summary.n_rejected:
                raise RuntimeError(f"the importer rejected {summary.n_rejected} synthetic rows")
            session.commit()
    get_engine(url).dispose()
    return len(sales), generated - started, time.perf_counter() - generated


# ---------------------------------------------------------------- the training process


def train_command() -> list[str]:
    """`launchcast train` from this interpreter's environment."""
    script = Path(sys.executable).with_name("launchcast")
    if script.exists():
        return [str(script), "train"]
    return [sys.executable, "-c", "from cli.main import main; main()", "train"]


def tree_rss(root: int) -> int:
    """Resident bytes of `root` and every descendant, read from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            statm = Path(f"/proc/{entry}/statm").read_text()
        except OSError:  # the process ended while we looked
            continue
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = int(statm.split()[1]) * PAGE_SIZE
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def run_training(result: RunResult, env: dict[str, str], timeout: float, log_path: Path) -> None:
    """Run `launchcast train` and record its outcome, seconds, peak RSS and CPU seconds.

    The process runs in its own session so a timeout kills its whole tree (Dask workers too).
    Peak RSS is the larger of the polled tree total (children running at once add up) and the
    kernel's own peak for the process and its waited-for children (catches spikes between polls).
    CPU seconds and the load average beside the wall seconds tell a slow core from a busy machine.
    """
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            train_command(),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        peak, loads = 0, []
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, tree_rss(process.pid))
            loads.append(os.getloadavg()[0])
            if time.perf_counter() - started >= timeout:
                os.killpg(process.pid, signal.SIGKILL)
                _, status, usage = os.wait4(process.pid, 0)
                result.outcome = "missed"
                break
            time.sleep(POLL_SECONDS)
        result.train_seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    # ru_maxrss is in kilobytes on Linux.
    result.peak_rss_bytes = max(peak, usage.ru_maxrss * 1024)
    result.cpu_seconds = usage.ru_utime + usage.ru_stime
    result.mean_load = sum(loads) / len(loads) if loads else None
    if result.outcome != "missed":
        result.exit_code = process.returncode
        if process.returncode != 0:
            result.outcome = "failed"


def read_run(url: str, result: RunResult) -> None:
    """The last run's status, its model version's status, its stages when it reports them, and
    its backtest's WAPE and rounds, into `result`."""
    with get_sessionmaker(url)() as session:
        run = session.scalars(select(TrainingRun).order_by(TrainingRun.created_at.desc())).first()
        if run is None:
            return
        version = session.get(ModelVersion, run.model_version) if run.model_version else None
        sources: list[Any] = [run.metrics or {}, version.metrics if version else {}]
        artifact = Path(version.artifact_path) / "metadata.json" if version else None
        if artifact is not None and artifact.is_file():
            sources.append(json.loads(artifact.read_text()))
        result.run_status = run.status
        result.model_status = version.status if version else None
        result.stages = next((found for s in sources if (found := find_stages(s))), [])
        metrics = run.metrics or {}
        served = metrics.get("served_method")
        result.backtest_wape = (metrics.get("methods") or {}).get(served, {}).get("wape")
        result.rounds = (metrics.get("cross_validation") or {}).get("rounds")


def find_stages(document: Any, depth: int = 2) -> list[dict[str, Any]]:
    """The {"stage", "seconds", "models"} records of a metrics or metadata document, at its top
    level or nested up to `depth` objects down. "stages" may be one list, or lists by phase
    ({"backtest": [...], "published": [...]}, as training/job.py writes it): each record then
    carries its "phase"."""
    if not isinstance(document, dict):
        return []
    stages = document.get("stages")
    if isinstance(stages, list) and _is_stage_list(stages):
        return stages
    if isinstance(stages, dict):
        flat = [
            {"phase": phase, **record}
            for phase, records in stages.items()
            if _is_stage_list(records)
            for record in records
        ]
        if flat:
            return flat
    if depth == 0:
        return []
    return next((found for v in document.values() if (found := find_stages(v, depth - 1))), [])


def _is_stage_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(s, dict) and "stage" in s for s in value)


def measure(
    n_products: int, seed: int, history_periods: int, timeout: float, workdir: Path
) -> RunResult:
    """One size end to end in `workdir`: generate, import, train, read back the run."""
    database = workdir / "launchcast.db"
    url = f"sqlite:///{database}"
    result = RunResult(products=n_products)
    result.sales_rows, result.generate_seconds, result.import_seconds = load_catalogue(
        url, n_products, seed, history_periods
    )
    env = {
        **os.environ,
        "LAUNCHCAST_DATABASE_URL": url,
        "LAUNCHCAST_ARTIFACT_DIR": str(workdir / "artifacts"),
    }
    log_path = workdir / "train.log"
    run_training(result, env, timeout, log_path)
    read_run(url, result)
    get_engine(url).dispose()
    if result.stages:
        result.models_fitted = sum(int(stage.get("models", 0)) for stage in result.stages)
    if result.outcome != "ok":
        lines = log_path.read_text(errors="replace").strip().splitlines()
        result.error_tail = "\n".join(lines[-5:])
    return result


# ---------------------------------------------------------------- reporting


def markdown_table(runs: Sequence[RunResult]) -> str:
    header = (
        "| products | sales rows | import s | train s | CPU s | load | peak RSS GB | models "
        "| rounds | backtest WAPE | outcome | target |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
    )
    rows = [header]
    for run in runs:
        seconds, gb = target_for(run.products)
        target = "-"
        if seconds is not None:
            limit = f"<= {seconds:.0f} s" + (f", <= {gb:g} GB" if gb else "")
            target = f"{'met' if meets_target(run) else 'NOT met'} ({limit})"
        train = (
            f"> {run.train_seconds:.0f}" if run.outcome == "missed" else f"{run.train_seconds:.0f}"
        )
        models = "-" if run.models_fitted is None else str(run.models_fitted)
        load = "-" if run.mean_load is None else f"{run.mean_load:.1f}"
        rounds = "-" if run.rounds is None else str(run.rounds)
        backtest = "-" if run.backtest_wape is None else f"{run.backtest_wape:.1f}"
        rows.append(
            f"| {run.products:,} | {run.sales_rows:,} | {run.import_seconds:.0f} | {train} | "
            f"{run.cpu_seconds:.0f} | {load} | "
            f"{run.peak_rss_gb:.2f} | {models} | {rounds} | {backtest} | {run.outcome} | {target} |"
        )
    return "\n".join(rows)


def stage_lines(runs: Sequence[RunResult]) -> list[str]:
    lines = []
    for run in runs:
        for stage in run.stages:
            seconds = float(stage.get("seconds", 0))
            phase = f"{stage['phase']}: " if "phase" in stage else ""
            lines.append(
                f"- {run.products:,}: {phase}{stage.get('stage')}: {seconds:.1f} s, "
                f"{stage.get('models', '-')} models"
            )
    return lines


def plot(runs: Sequence[RunResult], path: Path, timeout: float) -> None:
    """Seconds and GB against products on log-log axes; missed runs drawn hollow at the timeout
    (their true time is longer, their RSS the peak up to the kill)."""
    fig, (time_ax, memory_ax) = plt.subplots(1, 2, figsize=(10, 4.2))
    products = [run.products for run in runs]
    done = [run.outcome == "ok" for run in runs]
    for ax, values, unit in (
        (time_ax, [run.train_seconds for run in runs], "seconds"),
        (memory_ax, [run.peak_rss_gb for run in runs], "peak RSS (GB)"),
    ):
        ax.plot(products, values, color="tab:blue", linewidth=1)
        ax.scatter(
            products,
            values,
            facecolors=["tab:blue" if ok else "none" for ok in done],
            edgecolors="tab:blue",
            zorder=3,
            label="measured (hollow: missed or failed)",
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("products")
        ax.set_ylabel(unit)
        ax.grid(True, which="both", alpha=0.3)
    for size, seconds, gb in TARGETS:
        time_ax.scatter([size], [seconds], marker="x", color="tab:red", zorder=4)
        if gb is not None:
            memory_ax.scatter([size], [gb], marker="x", color="tab:red", zorder=4)
    time_ax.scatter([], [], marker="x", color="tab:red", label="target")
    time_ax.axhline(timeout, color="grey", linestyle="--", linewidth=1, label="timeout")
    for ax in (time_ax, memory_ax):
        # Ticks at 1-2-5 steps: a decade-only log axis can show no label at all here.
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
    time_ax.legend(loc="lower right", fontsize=8)
    time_ax.set_title("launchcast train: wall time")
    memory_ax.set_title("launchcast train: peak RSS")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def settings_overrides() -> dict[str, str]:
    """LAUNCHCAST_* settings the runs inherit from this environment: a published figure should
    have none, so it is the configuration users run."""
    own = {"LAUNCHCAST_DATABASE_URL", "LAUNCHCAST_ARTIFACT_DIR"}
    return {
        name: value
        for name, value in sorted(os.environ.items())
        if name.startswith("LAUNCHCAST_") and name not in own and "POSTGRES" not in name
    }


def git_commit() -> str | None:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return found.stdout.strip()


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes takes comma-separated counts, not '{text}'"
        ) from None
    if not sizes or min(sizes) < 10:
        raise argparse.ArgumentTypeError("--sizes needs at least one size of 10 products or more")
    return sizes


def main(argv: Sequence[str] | None = None) -> list[RunResult]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes", type=parse_sizes, default=list(DEFAULT_SIZES), help="products per run"
    )
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per training run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--history-periods", type=int, default=HISTORY_PERIODS)
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS, help="where the JSON and PNG go"
    )
    parser.add_argument(
        "--replot", action="store_true", help="redraw the PNG and table from the saved JSON"
    )
    args = parser.parse_args(argv)
    if args.timeout < 0:
        parser.error("--timeout must be 0 seconds or more")
    if args.replot:
        return replot(args.results_dir)
    runs: list[RunResult] = []
    load_at_start = os.getloadavg()
    for n_products in args.sizes:
        with tempfile.TemporaryDirectory(prefix="launchcast-scale-") as tmp:
            run = measure(n_products, args.seed, args.history_periods, args.timeout, Path(tmp))
        runs.append(run)
        print(
            f"{n_products:,} products: {run.outcome}, {run.train_seconds:.0f} s, "
            f"{run.peak_rss_gb:.2f} GB",
            flush=True,
        )
        if run.error_tail:
            print(run.error_tail, flush=True)
    payload = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "command": "python -m benchmarks.training_scale "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "load_average_at_start": [round(x, 2) for x in load_at_start],
        "seed": args.seed,
        "history_periods": args.history_periods,
        "timeout_seconds": args.timeout,
        "settings_overrides": settings_overrides(),
        "targets": [{"products": p, "seconds": s, "peak_rss_gb": g} for p, s, g in TARGETS],
        "runs": [
            {
                **asdict(run),
                "train_seconds": round(run.train_seconds, 1),
                "generate_seconds": round(run.generate_seconds, 1),
                "import_seconds": round(run.import_seconds, 1),
                "cpu_seconds": round(run.cpu_seconds, 1),
                "mean_load": None if run.mean_load is None else round(run.mean_load, 2),
                "peak_rss_gb": round(run.peak_rss_gb, 3),
                "meets_target": meets_target(run),
            }
            for run in runs
        ],
    }
    json_path = write_json(args.results_dir, payload)
    png_path = args.results_dir / f"{NAME}.png"
    plot(runs, png_path, args.timeout)
    print(markdown_table(runs))
    for line in stage_lines(runs):
        print(line)
    print(f"written to {json_path} and {png_path}")
    return runs


def replot(results_dir: Path) -> list[RunResult]:
    """The PNG and the table again from a saved training_scale.json (no training)."""
    saved = json.loads((results_dir / f"{NAME}.json").read_text())
    names = {f.name for f in fields(RunResult)}
    runs = [RunResult(**{k: v for k, v in run.items() if k in names}) for run in saved["runs"]]
    plot(runs, results_dir / f"{NAME}.png", saved["timeout_seconds"])
    print(markdown_table(runs))
    return runs


def write_json(results_dir: Path, payload: dict[str, Any]) -> Path:
    """benchmarks/results/training_scale.json, or the same file in another directory."""
    if results_dir.resolve() == RESULTS.resolve():
        return write_result(NAME, payload)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{NAME}.json"
    payload = {"machine": f"{platform.machine()} {os.cpu_count()} cores", **payload}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


if __name__ == "__main__":
    main()
