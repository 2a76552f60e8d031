/* The order and trust lines: what to order at the chosen service level, and how far the
 * active model's backtest says to trust the forecast. */

import { config, $, state } from "./state.js";
import { api } from "./api.js";
import { forecastOf, serviceLevel, fmt } from "./forecast.js";

// ---------------------------------------------------------------- order and trust
// What to order for the total at the chosen service level: the total's quantile at that
// level (a planner orders to cover demand, and the median point falls short of it as often as
// not), with how often such an order covered the totals in the backtest.
export function showOrder() {
  const f = forecastOf();
  const band = f.total && f.total.quantiles;
  const asked = state.last.request.quantiles;
  const level = asked.find((q) => q > 0.5 && q === serviceLevel()) || null;
  const quantity = level && band ? band[String(level)] : undefined;
  const established = f.method.startsWith("statistical:");
  $("order").hidden = quantity === undefined && !established;
  if (quantity === undefined) {
    // Say why rather than leave the planner's service level unanswered (CHANGELOG.md: such a
    // band, tried, held 50-88% of the totals on real series).
    if (established) {
      $("order").textContent = "No order quantity for an established product yet: its own " +
        "history is too short to calibrate a band for its total. Its weekly 10–90% band is drawn below.";
    }
    return;
  }
  const percent = Math.round(100 * level);
  $("order").textContent = `To cover the total demand at ${article(percent)} ${percent}% service level, ` +
    `order ${fmt(quantity)} units (the total's ${percent}% quantile).` + orderEvidence(f, level);
}

// "an 80%", "an 8%", "an 11%", "an 18%": the article goes by how the number is said.
const article = (n) => (/^8/.test(String(n)) || n === 11 || n === 18 ? "an" : "a");

// How often the backtest's totals were at or below their quantile at `level`, for the method
// that answered, over the periods it scored ("" when the metrics do not say).
function orderEvidence(f, level) {
  const b = state.backtest ? backtestOf(state.backtest, f) : null;
  const unit = periodWord();
  if (!b) return "";
  if (b.missing) {
    return ` This model's backtest has no figure for how often such an order covered the totals ` +
      `of ${b.missing} forecasts${b.warm ? ` made after their first ${unit} were seen` : ""}.`;
  }
  const share = (b.scores.total_service_levels || {})[String(level)];
  if (share === undefined || share === null) return "";
  const [first, last] = stepsOf(f);
  // The order is for the forecast's periods; the backtest summed its own: say so when they differ.
  const span = first === b.first && last === b.last ? "." : ` only; this order is for ${unit} ${first}–${last}.`;
  return ` In the backtest, such an order covered ${Math.round(100 * share)}% of the launches' ` +
    `totals over ${unit} ${b.first}–${b.last}${span}`;
}

export function showTrust() {
  const line = state.backtest && state.last ? trustLine(state.backtest, forecastOf()) : null;
  $("trust").hidden = !line;
  $("trust").textContent = line || "";
}

// The active model's backtest (a read key may see it; a forecast key, or a service without a
// model, sees none and the page says nothing of trust).
export async function activeMetrics() {
  try {
    const m = (await api("/v1/models/active")).metrics || {};
    const served = (m.methods || {}).served;
    return served && served.wape !== null && served.wape !== undefined ? m : null;
  } catch (error) {
    return null;
  }
}

// The first and last periods the drawn forecast covers.
const stepsOf = (f) => [f.points[0].step, f.points[f.points.length - 1].step];

export const periodWord = () => ({ D: "days", W: "weeks", M: "months" }[config.frequency] || "periods");

// Which of the backtest's figures describe the forecast `f`: those of the method that
// answered (a pin or an exclusion can switch the served gbm to neighbours, whose figures are
// not gbm's), cold or after its first periods seen. {scores, first, last} with the periods
// they were scored over (and `warmup` when they are a warm-up's); {missing: method, warm}
// when the backtest scored no such forecast; null for an established product (trustLine
// quotes the statistical path's figures).
function backtestOf(m, f) {
  // Established by the method that answered: the service forecasts a product that saw exactly
  // launch_steps periods as a launch still (gbm after its first 12 weeks), not statistically.
  if (f.method.startsWith("statistical:")) return null;
  const observed = f.points[0].step - 1;
  const served = f.method === m.served_method;
  if (observed > 0) {
    // The backtest's warm-ups were scored for the served method only.
    const w = served ? warmupScored(m, observed) : null;
    if (w) return { scores: w.warm, first: w.scored_steps[0], last: w.scored_steps[1], warmup: w };
    if (!served) return { missing: f.method, warm: true };
  }
  const methods = m.methods || {};
  const scores = served ? methods.served || methods[f.method] : methods[f.method];
  if (!scores || scores.wape === null || scores.wape === undefined) return { missing: f.method, warm: false };
  return { scores, first: 1, last: m.launch_steps };
}

// How far to trust a forecast, in one sentence from the backtest of the method that answered:
// the cold-start figures, or for a forecast that saw its first periods, the backtest's warm-ups
// after the most periods it scored that do not exceed them (a forecast that saw 3 weeks is
// described by the warm-ups after 2: the sentence never claims more was seen than was), or for
// an established product, the statistical path's. When the forecast covers other periods
// than the figures were scored over (another horizon), a last sentence says so.
function trustLine(m, f) {
  const unit = periodWord();
  const band = (s) => (s.coverage === null || s.coverage === undefined ? ""
    : `; its 10–90% band held ${Math.round(100 * s.coverage)}% of the actual ${unit}` +
      (s.total_coverage === null || s.total_coverage === undefined ? ""
        : `, and its band for a product's total held ${Math.round(100 * s.total_coverage)}% of the totals`));
  // A median point sums short of what sold: the planner ordering for a collection should know.
  const summed = (s) => (s.bias === null || s.bias === undefined || Math.abs(s.bias) < 5 ? ""
    : `; summed, they came to ${Math.round(Math.abs(s.bias))}% ${s.bias < 0 ? "less" : "more"} ` +
      "than was sold");
  const b = backtestOf(m, f);
  if (!b) {  // an established product: the statistical path's figures
    const st = m.statistical;
    if (!st || st.wape === null || st.wape === undefined) return null;
    const ahead = f.points.length === st.horizon ? ""
      : ` These figures are for ${st.horizon} ${unit} ahead; this forecast runs ${f.points.length}.`;
    return `How far to trust it: in this model's backtest, on ${st.n_products} established ` +
      `products with their last ${st.horizon} ${unit} held out, forecasts were off by ` +
      `${fmt(st.wape)}% of their sales (WAPE; repeating the last ${unit.slice(0, -1)}: ` +
      `${fmt(st.naive_wape)}%)${band(st)}.${ahead}`;
  }
  if (b.missing) {  // said plainly rather than quoting another method's figures
    return `How far to trust it: this forecast came from the ${b.missing} method, and this ` +
      `model's backtest has no figure for ${b.missing} forecasts` +
      `${b.warm ? ` made after their first ${unit} were seen` : ""}.`;
  }
  const [first, last] = stepsOf(f);
  const same = first === b.first && last === b.last;
  const span = same ? "" : ` These figures are for ${unit} ${b.first}–${b.last} only; this forecast ` +
    `covers ${unit} ${first}–${last}.`;
  if (b.warmup) {
    const w = b.warmup;
    return `How far to trust it: in this model's backtest, products launched after the ones ` +
      `it learnt from, forecast with their first ${w.observed_steps} ${unit} seen, were off by ` +
      `${fmt(w.warm.wape)}% of their sales in ${unit} ${b.first}–${b.last} (WAPE; ${fmt(w.cold_wape)}% ` +
      `forecast before launch)${summed(w.warm)}${band(w.warm)}.${span}`;
  }
  const s = b.scores;
  const over = same ? `over ${m.launch_steps} ${unit}` : `over their first ${m.launch_steps} ${unit}`;
  return `How far to trust it: in this model's backtest, on ${m.n_test} products launched ` +
    `after the ones it learnt from, ${f.method} forecasts were off by ${fmt(s.wape)}% ` +
    `of their sales ${over} (WAPE)${summed(s)}${band(s)}.${span}`;
}

// The backtest's warm-ups after the most periods it scored that do not exceed `observed`.
function warmupScored(m, observed) {
  const seen = Object.keys(m.warmup || {}).map(Number)
    .filter((k) => k >= 1 && k <= observed && (m.warmup[String(k)].warm || {}).wape != null);
  return seen.length ? m.warmup[String(Math.max(...seen))] : null;
}
