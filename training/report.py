"""The backtest report: a terminal table and an HTML page with plots a planner can read."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers
import matplotlib.pyplot as plt
import numpy as np
from rich.table import Table

METHOD_ORDER = ("global_curve", "attribute_curve", "neighbours", "gbm", "served")


def metrics_table(metrics: dict[str, Any], title: str = "backtest") -> Table:
    """WAPE, its gain over the fallback and over the global curve, MAE, bias and 10-90%
    interval coverage per method (the pinball loss is in the HTML report and the metrics)."""
    table = Table(
        title=f"{title}: cutoff {metrics.get('cutoff')}, "
        f"{metrics.get('n_train')} train / {metrics.get('n_test')} test products"
    )
    # Sized to read whole on an 80-column terminal or log: the method's name keeps its width
    # and the headers wrap between words, never inside one.
    table.add_column("method", no_wrap=True, min_width=len("attribute_curve"))
    for column, width in (
        ("WAPE", 6),
        ("gain vs fallback", 8),
        ("gain vs global curve", 8),
        ("MAE", 6),
        ("bias %", 6),
        ("10-90% coverage", 8),
    ):
        table.add_column(column, justify="right", min_width=width)
    fva = metrics.get("fva") or {}
    for name in _methods(metrics):
        s = metrics["methods"][name]
        gains = fva.get(name) or {}
        table.add_row(
            name,
            _fmt(s.get("wape")),
            _fmt(gains.get("vs_fallback")),
            _fmt(gains.get("vs_global_curve")),
            _fmt(s.get("mae")),
            _fmt(s.get("bias")),
            _fmt(100 * s["coverage"] if s.get("coverage") is not None else None) + "%",
        )
    return table


def statistical_line(metrics: dict[str, Any]) -> str:
    """One line on the statistical path (products with more history than the launch model)."""
    stats = metrics.get("statistical") or {}
    if not stats.get("n_products"):
        return "statistical models: no established product long enough to score"
    coverage = stats.get("coverage")
    seasonal = (
        f", SeasonalNaive {_fmt(stats.get('seasonal_naive_wape'))} on the "
        f"{stats['seasonal_naive_n_products']} with a season of history"
        if stats.get("seasonal_naive_n_products")
        else ""
    )
    return (
        f"statistical models on {stats['n_products']} established products, last "
        f"{stats['horizon']} periods held out: WAPE {_fmt(stats.get('wape'))} "
        f"(naive {_fmt(stats.get('naive_wape'))}{seasonal}), 10-90% coverage "
        f"{_fmt(100 * coverage if coverage is not None else None)}%, "
        f"models served: {_mix(stats.get('models'))}"
    )


def warmup_lines(metrics: dict[str, Any]) -> list[str]:
    """One sentence per warm-up evaluation: how much a few observed periods help."""
    lines = []
    for observed, w in sorted(metrics.get("warmup", {}).items(), key=lambda kv: int(kv[0])):
        first, last = w["scored_steps"]
        warm = w.get("warm") or {}
        lines.append(
            f"with {_seen(int(observed))} observed, WAPE on {_period_word(metrics)} {first}-{last} "
            f"is {_fmt(warm.get('wape'))} against {_fmt(w.get('cold_wape'))} cold "
            f"(ratio {_ratio(w.get('ratio'))}), 10-90% coverage "
            f"{_fmt(100 * (warm.get('coverage') or 0))}%"
        )
    return lines


def total_band_line(metrics: dict[str, Any]) -> str | None:
    """How often the served forecast's 10-90% band for a product's total over the launch steps
    held the test product's total (what a planner ordering for the launch relies on); None for
    metrics that do not carry it."""
    served = (metrics.get("methods") or {}).get("served") or {}
    held = served.get("total_coverage")
    if held is None:
        return None
    bias = served.get("bias")
    summed = (
        ""
        if bias is None
        else f" (its points summed to {_fmt(abs(bias))}% {'less' if bias < 0 else 'more'} "
        "than they sold)"
    )
    # What a planner ordering the total's 90% quantile (a 90% service level) would have met.
    covered = (served.get("total_service_levels") or {}).get("0.9")
    ordered = (
        ""
        if covered is None
        else (f"; an order of its 90% quantile would have covered {_fmt(100 * covered)}% of them")
    )
    return (
        f"the served 10-90% band for a product's total over {metrics.get('launch_steps')} "
        f"{_period_word(metrics)} held {_fmt(100 * held)}% of the test products' totals{summed}"
        f"{ordered}"
    )


def _seen(observed: int) -> str:
    """1 -> "period 1", 4 -> "periods 1-4"."""
    return "period 1" if observed == 1 else f"periods 1-{observed}"


def selection_lines(metrics: dict[str, Any]) -> list[str]:
    """Which method is served, and why: one sentence per method the folds weighed."""
    cv = metrics.get("cross_validation") or {}
    served = cv.get("served") or metrics.get("served_method")
    lines = [f"served method: {served} (the simplest one the cross-validation folds support)"]
    lines += [str(d) for d in cv.get("decisions") or []]
    return lines


def _mix(models: Any) -> str:
    """{"Naive": 80, "AutoETS": 2} -> "Naive on 80, AutoETS on 2"."""
    if not isinstance(models, dict) or not models:
        return "none"
    ranked = sorted(models.items(), key=lambda item: -item[1])
    return ", ".join(f"{name} on {count}" for name, count in ranked)


def _period_word(metrics: dict[str, Any]) -> str:
    return {"D": "days", "W": "weeks", "M": "months"}.get(str(metrics.get("frequency")), "periods")


def _ratio(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def _methods(metrics: dict[str, Any]) -> list[str]:
    """The methods present, in METHOD_ORDER, each extra LightGBM model ("gbm_<objective>")
    right after the main one."""
    present = set(metrics.get("methods", {}))

    def rank(name: str) -> tuple[int, str]:
        base = "gbm" if name.startswith("gbm_") else name
        return (METHOD_ORDER.index(base) if base in METHOD_ORDER else len(METHOD_ORDER), name)

    return sorted(present, key=rank)


def _percent(share: Any) -> str:
    return "-" if share is None else f"{100 * float(share):.1f}%"


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}"


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


# Each method keeps its marker and dash pattern whatever the colours (read in grey print or by
# a colour-blind reader); the served method is drawn last, black and dashed, so it shows even
# where it lies on the method it serves.
STYLES = {
    "global_curve": ("s", ":"),
    "attribute_curve": ("^", "-."),
    "neighbours": ("D", "--"),
    "gbm": ("o", "-"),
}


def wape_per_step_plot(metrics: dict[str, Any]) -> str:
    fig, ax = plt.subplots(figsize=(8, 4))
    served = str(metrics.get("served_method") or "")
    for name in _methods(metrics):
        steps = metrics.get("per_step", {}).get(name, [])
        ys = [s.get("wape") if isinstance(s, dict) else None for s in steps]
        xs, values = range(1, len(ys) + 1), [y if y is not None else float("nan") for y in ys]
        if name == "served":
            ax.plot(xs, values, "k--", lw=2.5, label=f"served ({served})", zorder=3)
            continue
        marker, dashes = STYLES.get(name, ("x", "-"))
        ax.plot(xs, values, marker=marker, linestyle=dashes, label=name)
    ax.set_xlabel("periods since launch")
    ax.set_ylabel("WAPE (%)")
    ax.set_title("WAPE per step and method (lower is better)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def warmup_plot(metrics: dict[str, Any]) -> str:
    """How much the first observed periods help, drawn: per count of periods observed, the WAPE
    of the later periods forecast cold and warm (left), and how often the warm 10-90% band held
    them against the 80% it aims at (right). "" when the backtest scored no warm-up."""
    scored = sorted(
        ((int(k), w) for k, w in (metrics.get("warmup") or {}).items() if w.get("warm")),
        key=lambda kw: kw[0],
    )
    if not scored:
        return ""
    unit = _period_word(metrics)
    labels = [
        f"{_seen(k)} seen\n({unit} {w['scored_steps'][0]}-{w['scored_steps'][1]})"
        for k, w in scored
    ]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    at = np.arange(len(scored))
    cold = [_number(w.get("cold_wape")) for _, w in scored]
    warm = [_number(w["warm"].get("wape")) for _, w in scored]
    left.bar(at - 0.2, cold, 0.4, color="#bbbbbb", hatch="//", label="forecast before launch")
    left.bar(at + 0.2, warm, 0.4, color="#1f5fa8", label="with the first periods seen")
    left.set_xticks(at, labels, fontsize=8)
    left.set_ylabel("WAPE (%) of the later periods")
    left.set_title("WAPE (lower is better)")
    tallest = np.nanmax([*cold, *warm, 1.0])
    left.set_ylim(0, tallest * 1.35)  # room for the legend above the bars
    left.legend(fontsize=7, loc="upper center", ncol=2)
    coverage = [100 * _number(w["warm"].get("coverage")) for _, w in scored]
    right.axhline(80, color="k", ls="--", lw=1, label="aim: 80%")
    right.plot(at, coverage, "o", color="#1f5fa8", ms=8, label="warm-up band held")
    for x, held in zip(at, coverage, strict=True):
        below = held < 80  # the label on the side away from the 80% line
        right.annotate(
            f"{held:.0f}%",
            (x, held),
            textcoords="offset points",
            xytext=(0, -16 if below else 8),
            ha="center",
        )
    right.set_xticks(at, labels, fontsize=8)
    right.set_ylim(min(50.0, float(np.nanmin([*coverage, 100.0])) - 10), 100)  # every point shows
    right.set_xlim(-0.5, len(scored) - 0.5)
    right.set_ylabel("% of actual periods inside")
    right.set_title("10-90% band coverage")
    right.legend(fontsize=7, loc="lower right")
    for ax in (left, right):
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _png(fig)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else float("nan")


def attribute_caption(attributes: Any) -> str:
    """ "category: tops · color: red · price: 24.98", not a Python dict."""
    if not isinstance(attributes, dict):
        return str(attributes)
    return " · ".join(f"{name}: {value}" for name, value in attributes.items())


def sample_plot(sample: dict[str, Any]) -> str:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    steps = list(range(1, len(sample["actual"]) + 1))
    for nb in sample.get("neighbours", [])[:8]:
        ax.plot(steps[: len(nb["curve"])], nb["curve"], color="grey", alpha=0.35, lw=1)
    ax.fill_between(steps, sample["lower"], sample["upper"], alpha=0.25, label="10-90% interval")
    ax.plot(steps, sample["forecast"], lw=2, label=f"forecast ({sample['method']})")
    ax.plot(
        steps,
        [a if a is not None else float("nan") for a in sample["actual"]],
        "k.-",
        label="actual",
    )
    ax.set_title(f"{sample['product_id']} (launched {sample['launch_date']}); grey: neighbours")
    ax.set_xlabel("periods since launch")
    ax.legend(fontsize=7)
    return _png(fig)


def write_html(metrics: dict[str, Any], samples: list[dict[str, Any]], path: Path) -> Path:
    """A self-contained page (plots embedded as PNG) with the table and the sample products."""
    rows = "".join(
        "<tr><td>{}</td>{}</tr>".format(
            html.escape(name),
            "".join(
                f"<td>{_fmt(metrics['methods'][name].get(k))}</td>"
                for k in ("wape", "mae", "bias", "pinball_mean")
            )
            + "".join(
                f"<td>{_fmt((metrics.get('fva') or {}).get(name, {}).get(k))}</td>"
                for k in ("vs_fallback", "vs_global_curve")
            )
            + f"<td>{_fmt(100 * (metrics['methods'][name].get('coverage') or 0))}%</td>"
            + f"<td>{_percent(metrics['methods'][name].get('total_coverage'))}</td>",
        )
        for name in _methods(metrics)
    )
    figures = "".join(
        f'<figure><img src="data:image/png;base64,{sample_plot(s)}">'
        f"<figcaption>{html.escape(attribute_caption(s.get('attributes')))}</figcaption></figure>"
        for s in samples
    )
    warmup = "".join(f"<li>{html.escape(line)}</li>" for line in warmup_lines(metrics))
    warmup_png = warmup_plot(metrics)
    warmup_figure = f'<img src="data:image/png;base64,{warmup_png}">' if warmup_png else ""
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>launchcast backtest</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}
figure{{display:inline-block;margin:6px}}
figcaption{{font-size:11px;color:#555;max-width:540px}}</style></head><body>
<h1>launchcast backtest</h1>
<p>Split by launch date at <b>{html.escape(str(metrics.get("cutoff")))}</b>: trained on
{metrics.get("n_train")} products launched before, scored on {metrics.get("n_test")} launched
from then on (never a product that was trained on).
WAPE = 100 &times; &sum;|y &minus; &#375;| / &sum;y.
The service answers with <b>{html.escape(str(metrics.get("served_method")))}</b>.</p>
<table><tr><th>method</th><th>WAPE</th><th>MAE</th><th>bias</th><th>pinball</th>
<th>WAPE gained over its fallback</th><th>over the global curve</th>
<th>10-90% coverage</th><th>totals in their band</th></tr>{rows}</table>
{"".join(f"<p>{html.escape(line)}.</p>" for line in [total_band_line(metrics)] if line)}
<h2>WAPE per step</h2><img src="data:image/png;base64,{wape_per_step_plot(metrics)}">
{"".join(f"<p>{html.escape(line)}.</p>" for line in selection_lines(metrics))}
<h2>Warm-up (first periods observed)</h2>{warmup_figure}
<ul>{warmup or "<li>not evaluated</li>"}</ul>
<h2>Established products</h2><p>{html.escape(statistical_line(metrics))}</p>
<h2>Sample test products</h2>{figures}</body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
