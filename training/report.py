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
from matplotlib.ticker import MaxNLocator
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
            _percent(s.get("coverage")),
        )
    return table


def statistical_line(metrics: dict[str, Any]) -> str:
    """One line on the statistical path (products with more history than the launch model)."""
    stats = metrics.get("statistical") or {}
    if stats.get("skipped"):
        return f"statistical models: not scored ({stats['skipped']})"
    if not stats.get("n_products"):
        return "statistical models: no established product long enough to score"
    coverage = stats.get("coverage")
    seasonal = (
        f", SeasonalNaive {_fmt(stats.get('seasonal_naive_wape'))} on the "
        f"{stats['seasonal_naive_n_products']} with a season of history"
        if stats.get("seasonal_naive_n_products")
        else ""
    )
    unit = _period_word(metrics)
    held_out = f"statistical models on {stats['n_products']} established products, last "
    held_out += f"{stats['horizon']} {unit} held out"
    # WAPE divides by what sold: unknown, not a number, when the held-out periods sold nothing.
    wape = (
        f"WAPE {_fmt(stats.get('wape'))} (naive {_fmt(stats.get('naive_wape'))}{seasonal})"
        if stats.get("wape") is not None
        else f"no WAPE (they sold nothing in those {unit})"
    )
    return (
        f"{held_out}: {wape}, 10-90% coverage {_percent(coverage)}, "
        f"models served: {_mix(stats.get('models'))}"
    )


def warmup_lines(metrics: dict[str, Any]) -> list[str]:
    """One sentence per warm-up evaluation: how much a few observed periods help."""
    lines = []
    for observed, w in sorted(metrics.get("warmup", {}).items(), key=lambda kv: int(kv[0])):
        warm = w.get("warm") or {}
        if warm.get("wape") is None:
            lines.append(
                f"with {_seen(int(observed))} observed: not scored (no test product had reached "
                f"{_period_word(metrics, 1)} {w['scored_steps'][0]} by the last sale)"
            )
            continue
        lines.append(
            f"with {_seen(int(observed))} observed, WAPE on {_scored(metrics, w)} is "
            f"{_fmt(warm.get('wape'))} against "
            f"{_fmt(w.get('cold_wape'))} cold (ratio {_ratio(w.get('ratio'))}), 10-90% coverage "
            f"{_percent(warm.get('coverage'))}"
        )
    return lines


def last_step_reached(metrics: dict[str, Any]) -> int | None:
    """The last launch step any test product had reached by the last sale (a young test set
    reaches fewer than the launch steps), from the served method's per-step scores; None when
    the metrics do not carry them."""
    steps = (metrics.get("per_step") or {}).get("served")
    if not isinstance(steps, list) or not any(isinstance(s, dict) and "n" in s for s in steps):
        return None
    scored = [i + 1 for i, s in enumerate(steps) if isinstance(s, dict) and s.get("n")]
    return max(scored) if scored else 0


def _scored(metrics: dict[str, Any], warmup: dict[str, Any]) -> str:
    """The steps a warm-up evaluation scored, "weeks 3-12": up to the last one a test product
    had reached ("weeks 3-6" of a young test set), "week 12" when the span is one period."""
    first, last = warmup["scored_steps"]
    reached = last_step_reached(metrics)
    if reached is not None and first <= reached < last:
        last = reached  # the later steps had no sales yet to score
    if first == last:
        return f"{_period_word(metrics, 1)} {first}"
    return f"{_period_word(metrics)} {first}-{last}"


def total_band_line(metrics: dict[str, Any]) -> str | None:
    """How often the served forecast's 10-90% band for a product's total over the launch steps
    held the test product's total (what a planner ordering for the launch relies on); None for
    metrics that do not carry it."""
    served = (metrics.get("methods") or {}).get("served") or {}
    if "total_coverage" not in served:
        return None
    held = served.get("total_coverage")
    steps, unit = metrics.get("launch_steps"), _period_word(metrics)
    if held is None:
        return (
            f"no test product had been on sale for all {steps} {unit} by the last sale, so the "
            "band for a product's total is not scored"
        )
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
    # Only the test products that reached every step have a total: name how many they are.
    counted = served.get("total_n_products")
    products = "test products" if counted is None else f"{counted} test products"
    return (
        f"the served 10-90% band for a product's total over {steps} {unit} held "
        f"{_fmt(100 * held)}% of the totals of the {products} on sale for all {steps} {unit}"
        f"{summed}{ordered}"
    )


def _seen(observed: int) -> str:
    """1 -> "period 1", 4 -> "periods 1-4"."""
    return "period 1" if observed == 1 else f"periods 1-{observed}"


def selection_lines(metrics: dict[str, Any]) -> list[str]:
    """Which method is served, and why: one sentence per method the folds weighed."""
    cv = metrics.get("cross_validation") or {}
    served = cv.get("served") or metrics.get("served_method")
    why = (
        "too few launches for a cross-validation fold, so it is served unchecked"
        if "fva" in cv and not cv["fva"]
        else "the simplest one the cross-validation folds support"
    )
    lines = [f"served method: {served} ({why})"]
    lines += [str(d) for d in cv.get("decisions") or []]
    return lines


def _mix(models: Any) -> str:
    """{"Naive": 80, "AutoETS": 2} -> "Naive on 80, AutoETS on 2"."""
    if not isinstance(models, dict) or not models:
        return "none"
    ranked = sorted(models.items(), key=lambda item: -item[1])
    return ", ".join(f"{name} on {count}" for name, count in ranked)


def _period_word(metrics: dict[str, Any], count: int = 2) -> str:
    """The data's period, "weeks" (or "week" for a count of 1)."""
    word = {"D": "days", "W": "weeks", "M": "months"}.get(str(metrics.get("frequency")), "periods")
    return word[:-1] if count == 1 else word


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
    ax.set_xlabel(_steps_label(metrics))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole periods
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
        (
            (int(k), w)
            for k, w in (metrics.get("warmup") or {}).items()
            if (w.get("warm") or {}).get("wape") is not None  # unscored: said in the list
        ),
        key=lambda kw: kw[0],
    )
    if not scored:
        return ""
    labels = [f"{_seen(k)} seen\n({_scored(metrics, w)})" for k, w in scored]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    at = np.arange(len(scored))
    cold = [_number(w.get("cold_wape")) for _, w in scored]
    warm = [_number(w["warm"].get("wape")) for _, w in scored]
    left.bar(at - 0.2, cold, 0.4, color="#bbbbbb", hatch="//", label="forecast before launch")
    left.bar(at + 0.2, warm, 0.4, color="#1f5fa8", label="with the first periods seen")
    left.set_xticks(at, labels, fontsize=8)
    left.set_ylabel("WAPE (%) of the later periods")
    left.set_title("WAPE (lower is better)", pad=24)  # level with the right-hand title
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
    # Above the axes: inside, it hid a point (and its label) low on the scale.
    right.set_title("10-90% band coverage", pad=24)
    right.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
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


def _steps_label(metrics: dict[str, Any]) -> str:
    """The x axis of a launch curve: "weeks since launch (1 = the launch week)"."""
    unit = _period_word(metrics)
    if unit == "periods":
        return "periods since launch (1 = the launch period)"
    return f"{unit} since launch (1 = the launch {unit[:-1]})"


def sample_plot(sample: dict[str, Any], metrics: dict[str, Any] | None = None) -> str:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    steps = list(range(1, len(sample["actual"]) + 1))
    for i, nb in enumerate(sample.get("neighbours", [])[:8]):
        label = "its analogues' own launch curves" if i == 0 else None
        ax.plot(steps[: len(nb["curve"])], nb["curve"], color="grey", alpha=0.35, lw=1, label=label)
    ax.fill_between(steps, sample["lower"], sample["upper"], alpha=0.25, label="10-90% interval")
    ax.plot(steps, sample["forecast"], lw=2, label=f"forecast ({sample['method']})")
    ax.plot(
        steps,
        [a if a is not None else float("nan") for a in sample["actual"]],
        "k.-",
        label="actual",
    )
    ax.set_title(f"{sample['product_id']} (launched {sample['launch_date']})")
    ax.set_xlabel(_steps_label(metrics or {}))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    unit = _period_word(metrics or {}, 1)
    ax.set_ylabel("units sold" if unit == "period" else f"units sold per {unit}")
    ax.legend(fontsize=7)
    return _png(fig)


def write_html(metrics: dict[str, Any], samples: list[dict[str, Any]], path: Path) -> Path:
    """A self-contained page (plots embedded as PNG, nothing fetched) with the table and the
    sample products, readable from a phone's width up."""
    fva = metrics.get("fva") or {}
    rows = "".join(
        "<tr><th scope=row>{}</th>{}</tr>".format(
            html.escape(name),
            "".join(
                f"<td>{_fmt(metrics['methods'][name].get(k))}</td>"
                for k in ("wape", "mae", "bias", "pinball_mean")
            )
            + "".join(
                f"<td>{_fmt((fva.get(name) or {}).get(k))}</td>"
                for k in ("vs_fallback", "vs_global_curve")
            )
            + f"<td>{_percent(metrics['methods'][name].get('coverage'))}</td>"
            + f"<td>{_percent(metrics['methods'][name].get('total_coverage'))}</td>",
        )
        for name in _methods(metrics)
    )
    unit = _period_word(metrics, 1)
    per_unit = "per period" if unit == "period" else f"per {unit}"
    figures = "".join(
        f'<figure><img src="data:image/png;base64,{sample_plot(s, metrics)}" '
        f'alt="{html.escape(_sample_alt(s), quote=True)}">'
        f"<figcaption>{html.escape(attribute_caption(s.get('attributes')))}</figcaption></figure>"
        for s in samples
    )
    warmup = "".join(f"<li>{html.escape(line)}</li>" for line in warmup_lines(metrics))
    warmup_png = warmup_plot(metrics)
    warmup_figure = (
        f'<img src="data:image/png;base64,{warmup_png}" alt="Warm-up WAPE before and after the '
        'first periods are seen, and how often the warm-up 10-90% band held">'
        if warmup_png
        else ""
    )
    totals = total_band_line(metrics)
    reached, steps = last_step_reached(metrics), metrics.get("launch_steps")
    young = (
        f"<p>No test product had reached {_period_word(metrics, 1)} {reached + 1} by the last "
        f"sale: the scores cover {_period_word(metrics)} 1-{reached} of the {steps}.</p>"
        if isinstance(steps, int) and reached and reached < steps
        else ""
    )
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>launchcast backtest</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}
img{{max-width:100%;height:auto}}.scroll{{overflow-x:auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}
th[scope=row],tr th:first-child{{text-align:left}}
figure{{display:inline-block;margin:6px;max-width:100%}}
figcaption{{font-size:13px;color:#444;max-width:540px}}
@media (max-width:600px){{body{{margin:1em}}td,th{{padding:3px 5px}}}}</style></head><body>
<h1>launchcast backtest</h1>
<p>Split by launch date at <b>{html.escape(str(metrics.get("cutoff")))}</b>: trained on
{metrics.get("n_train")} products launched before, scored on {metrics.get("n_test")} launched
from then on (never a product that was trained on).
WAPE = 100 &times; &sum;|y &minus; &#375;| / &sum;y.
The service answers with <b>{html.escape(str(metrics.get("served_method")))}</b>.</p>
<div class="scroll"><table><tr><th scope=col>method</th><th scope=col>WAPE</th>
<th scope=col>MAE (units {per_unit})</th><th scope=col>bias %</th>
<th scope=col>pinball (units {per_unit})</th>
<th scope=col>WAPE gained over its fallback</th><th scope=col>over the global curve</th>
<th scope=col>10-90% coverage</th><th scope=col>totals in their band</th></tr>{rows}</table></div>
<p>All on this split's test products. Gains are WAPE points over the next simpler method of the
chain gbm &rarr; neighbours &rarr; attribute_curve &rarr; global_curve (positive: better); which
method is served was decided on the cross-validation folds below, each method against the one
served before it. Bias: how far the points summed from what sold (negative: short).</p>
{young}{f"<p>{html.escape(totals)}.</p>" if totals else ""}
<h2>WAPE per step</h2><img src="data:image/png;base64,{wape_per_step_plot(metrics)}"
alt="WAPE per step since launch for each method and the served one">
<h2>Which method is served</h2>
{"".join(f"<p>{html.escape(line)}.</p>" for line in selection_lines(metrics))}
<h2>Warm-up (first periods observed)</h2>{warmup_figure}
<ul>{warmup or "<li>not evaluated</li>"}</ul>
<h2>Established products</h2><p>{html.escape(statistical_line(metrics))}</p>
<h2>Sample test products</h2>{figures or "<p>none plotted (--samples 0)</p>"}</body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path


def _sample_alt(sample: dict[str, Any]) -> str:
    return (
        f"{sample.get('product_id')}: forecast ({sample.get('method')}) with its 10-90% interval "
        "against what it sold"
    )
