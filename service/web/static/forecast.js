/* Forecasting: the request from the form, running it, and the result drawn (summary, chart,
 * table, drivers). The order and trust lines are trust.js's, the analogues analogues.js's. */

import { $, LOW, HIGH, state } from "./state.js";
import { api, say, showProblem, clearProblem, refusal } from "./api.js";
import { stepStart, stepOf } from "./periods.js";
import { inputWarnings, historyValues, describedAttributes } from "./choices.js";
import { showOrder, showTrust } from "./trust.js";
import { renderAnalogues } from "./analogues.js";

// ---------------------------------------------------------------- forecasting
export const mode = () => document.querySelector('input[name="mode"]:checked').value;

async function productRequest() {
  // Empty means the default; anything else goes as typed, so 0 or 1.5 gets the API's 422
  // naming horizon instead of silently becoming 12 periods.
  const typed = $("horizon").value.trim();
  const horizon = typed === "" ? 12 : Number(typed);
  if (mode() === "catalogue") {
    const id = $("product-id").value.trim();
    if (!id) throw Object.assign(new Error("choose a catalogue product"), { problem: null });
    const stored = await api(`/v1/products/${encodeURIComponent(id)}`);
    const sales = stored.n_observations
      ? (await api(`/v1/products/${encodeURIComponent(id)}/sales`)).observations : [];
    const launch = stored.launch_date || stored.first_sale_date;
    const product = { product_id: id, attributes: stored.attributes, launch_date: launch };
    if ($("use-sales").checked && sales.length) {
      product.history = sales.map((s) => ({ date: s.date, quantity: s.quantity }));
    }
    return { horizon, product, actuals: stepTotals(launch, sales), label: id,
      description: describe(stored.attributes, launch) };
  }
  const launch = $("launch-date").value;
  if (!launch) throw Object.assign(new Error("give the launch date"), { problem: { errors: [{ field: "launch_date", message: "required for a new product" }] } });
  const attributes = describedAttributes();
  const product = { attributes, launch_date: launch };
  const history = historyValues($("history").value);
  if (history.some((x) => !Number.isFinite(x))) {
    throw Object.assign(new Error("first periods of sales must be numbers"), { problem: null });
  }
  // The API stores negative quantities as net returns, but early sales of a launch cannot be
  // below zero: a typo (or a minus meant as a dash) is refused here, naming the field.
  const negative = history.findIndex((x) => x < 0);
  if (negative >= 0) {
    throw refusal("early sales cannot be negative", "First periods of sales",
      `period ${negative + 1} is ${history[negative]} (type 0 for a period with no sales)`);
  }
  if (history.length) product.history = history.map((q, i) => ({ date: stepStart(launch, i + 1), quantity: q }));
  const actuals = history.map((q, i) => [i + 1, q]);
  return { horizon, product, actuals, label: describe(attributes, launch), description: describe(attributes, launch),
    notes: inputWarnings() };
}

function describe(attributes, launch) {
  const parts = Object.entries(attributes || {}).filter(([, v]) => v !== null && v !== "").map(([k, v]) => `${k}=${v}`);
  return `${parts.join(", ") || "no attributes"}; launch ${launch}`;
}

function stepTotals(launch, sales) {
  const totals = new Map();
  for (const s of sales) {
    const step = stepOf(launch, s.date);
    if (step >= 1) totals.set(step, (totals.get(step) || 0) + s.quantity);
  }
  if (!totals.size) return [];
  const last = Math.max(...totals.keys());
  return Array.from({ length: last }, (_, i) => [i + 1, totals.get(i + 1) || 0]);
}

// The pinned weights the API would refuse (it takes weights above 0 only), as problem errors.
const weightErrors = () => [...state.pinned]
  .filter(([, weight]) => !(Number.isFinite(weight) && weight > 0))
  .map(([id, weight]) => ({ field: `weight of ${id}`, message: `${weight} is not more than 0` }));

// Of the API's errors naming a pinned or excluded analogue by its place in the request sent
// (products[0].analogues[j]...), those whose product is still pinned (or excluded); any other
// error stands until the next forecast.
function refusedAnalogues(errors, sent) {
  return () => errors.filter((e) => {
    const named = /^products\[0\]\.(analogues|exclude_analogues)\[(\d+)\]/.exec(e.field);
    if (!named) return true;
    if (named[1] === "exclude_analogues") return state.excluded.has((sent.exclude_analogues || [])[named[2]]);
    const pin = (sent.analogues || [])[named[2]];
    return !pin || state.pinned.has(pin.product_id);
  });
}

export async function runForecast() {
  clearProblem();
  // A pinned weight the API would refuse is named here, and the table stays so it can be
  // corrected; the problem goes as soon as it is (or the product unpinned).
  const bad = weightErrors();
  if (bad.length) {
    const named = new Set(bad.map((e) => e.field));  // later reviews drop, never add, a weight
    showProblem(Object.assign(new Error("a pinned analogue's weight must be more than 0 (unpin it to leave it out)"),
      { problem: { errors: bad } }), undefined, () => weightErrors().filter((e) => named.has(e.field)));
    return;
  }
  // Only the newest request may draw: a slower earlier answer must not replace it.
  const ticket = (state.ticket = (state.ticket || 0) + 1);
  let product;  // as sent, once built: the API's errors name its analogues by their place in it
  const fail = (error) => {
    if (ticket !== state.ticket) return;
    state.settled = ticket;
    const errors = (error.problem && error.problem.errors) || [];
    // What it names among the analogues goes from the box once unpinned or included again.
    showProblem(error, undefined, product && errors.length ? refusedAnalogues(errors, product) : null);
    // A refusal of only the pinned or excluded analogues (one launched after the product, or
    // unknown to the model): the table stays, so the planner can unpin what the API named.
    if (state.last && errors.length &&
        errors.every((e) => /^products\[0\]\.(analogues|exclude_analogues)\b/.test(e.field))) return;
    // Otherwise the previous forecast is not this request's answer: hidden, so no order,
    // comparison or CSV is taken from it.
    $("result").hidden = true;
    state.last = null;
  };
  let asked;
  try {
    asked = await productRequest();
  } catch (error) {
    fail(error);
    return;
  }
  product = { ...asked.product };
  if (state.pinned.size) {
    product.analogues = [...state.pinned].map(([product_id, weight]) => ({ product_id, weight }));
  }
  if (state.excluded.size) product.exclude_analogues = [...state.excluded];
  const levels = [...new Set([LOW, 0.5, HIGH, serviceLevel()])].sort((a, b) => a - b);
  const body = { horizon: asked.horizon, quantiles: levels, products: [product] };
  // A forecast key may not see other products: ask for explanations only when allowed.
  const explained = { ...body, details: ["curves", "drivers"] };
  say("Forecasting…");
  let answer;
  try {
    answer = await api("/v1/forecasts", { method: "POST", body: explained });
  } catch (error) {
    if (error.status !== 403) { fail(error); return; }
    try {
      answer = await api("/v1/forecasts", { method: "POST", body });
    } catch (again) { fail(again); return; }
  }
  if (ticket !== state.ticket) return;
  state.settled = ticket;
  state.last = { request: body, answer, ...asked };
  renderResult();
  say(`Forecast ready: ${answer.forecasts[0].method}, model ${answer.model_version || "none (launch curves)"}.`);
}

export const forecastOf = () => state.last.answer.forecasts[0];
export const serviceLevel = () => Number($("service-level").value);
const quantile = (point, level) => (point.quantiles || {})[String(level)];
export const fmt = (x) => (x === null || x === undefined ? "–" : Number(x).toLocaleString("en", { maximumFractionDigits: 1 }));

function renderResult() {
  const f = forecastOf();
  $("result").hidden = false;
  // The total's own band (learnt on totals: the weeks' bands summed would be too wide); the
  // trust line says how often it held in the backtest.
  const band = f.total && f.total.quantiles;
  const range = band && band[String(LOW)] !== undefined && band[String(HIGH)] !== undefined
    ? ` (10–90%: ${fmt(band[String(LOW)])} to ${fmt(band[String(HIGH)])})` : "";
  const summary = $("result-summary");
  summary.textContent = `${state.last.description}: ${fmt(f.total.forecast)} units over ` +
    `periods ${f.points[0].step} to ${f.points[f.points.length - 1].step}${range}, method ${f.method}.`;
  showOrder();
  showTrust();
  // Attributes the planner left unset are one line, not one warning each.
  const missing = /^attribute (.+) is missing; treated as unknown$/;
  const unset = f.warnings.map((w) => w.match(missing)).filter(Boolean).map((m) => m[1]);
  const warnings = f.warnings.filter((w) => !missing.test(w));
  if (unset.length) warnings.unshift(`not set, so treated as unknown: ${unset.join(", ")}`);
  warnings.unshift(...(state.last.notes || []));  // the page's own, flagged as they were typed
  if (warnings.length) {
    const list = document.createElement("ul");
    list.className = "warnings";
    for (const warning of warnings) {
      const item = document.createElement("li");
      item.textContent = warning;
      list.appendChild(item);
    }
    summary.appendChild(list);
  }
  const series = [];
  series.push({ kind: "band", key: "band", name: "10–90% band", cls: "s-band",
    lo: f.points.map((p) => [p.step, quantile(p, LOW)]), hi: f.points.map((p) => [p.step, quantile(p, HIGH)]) });
  const neighbours = f.neighbours || [];
  neighbours.forEach((n, i) => {
    if (!n.curve) return;
    // clip: an analogue far above the forecast does not set the y-axis (see chart.js)
    series.push({ kind: "line", key: "analogue", name: `analogue ${n.product_id}`, cls: "s-analogue",
      dash: "dash", width: 1, clip: true, legend: i === neighbours.findIndex((m) => m.curve),
      legendName: "analogues' own launch curves",
      points: n.curve.map((y, j) => [j + 1, y]).slice(0, f.points[f.points.length - 1].step) });
  });
  if (state.last.actuals.length) {
    series.push({ kind: "line", key: "actual", name: "actual sales", cls: "s-actual", dash: "dot",
      markers: true, points: state.last.actuals });
  }
  series.push({ kind: "line", key: "forecast", name: "forecast", cls: "s-forecast", width: 3,
    points: f.points.map((p) => [p.step, p.forecast]) });
  LaunchChart.draw($("forecast-chart"), {
    id: "forecast", title: `Forecast chart: ${state.last.description}`, xLabel: "period since launch",
    yLabel: "units", series, legend: $("forecast-legend"),
  });
  renderTable(f);
  renderAnalogues(neighbours, f);
  renderDrivers(f);
}

function renderTable(f) {
  const table = $("forecast-table");
  const actual = new Map(state.last.actuals);
  table.innerHTML = "<thead><tr><th scope='col'>Period</th><th scope='col'>Starts</th><th scope='col'>Forecast</th>" +
    "<th scope='col'>10%</th><th scope='col'>90%</th><th scope='col'>Actual</th></tr></thead>";
  const body = document.createElement("tbody");
  for (const p of f.points) {
    const row = body.insertRow();
    for (const value of [p.step, p.start_date, fmt(p.forecast), fmt(quantile(p, LOW)), fmt(quantile(p, HIGH)), fmt(actual.get(p.step))]) {
      row.insertCell().textContent = value;
    }
  }
  table.appendChild(body);
}

function renderDrivers(f) {
  const list = $("drivers");
  list.textContent = "";
  const drivers = f.drivers;
  if (!drivers) {
    // The statistical path forecasts a product from its own sales: nothing to attribute.
    $("drivers-summary").textContent = f.method.startsWith("statistical:")
      ? `No drivers for an established product: its forecast (${f.method}) comes from its own ` +
        "sales history, not from its attributes or analogues."
      : "No drivers in this answer (this key or this model does not give them).";
    return;
  }
  const entries = Object.entries(drivers.contributions).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
  const total = drivers.baseline + entries.reduce((sum, [, v]) => sum + v, 0);
  $("drivers-summary").textContent = `baseline ${fmt(drivers.baseline)} + contributions = ${fmt(total)} units`;
  const scale = Math.max(1e-9, ...entries.map(([, v]) => Math.abs(v)));
  // An attribute the product left unset still moves the forecast (the model has learnt what
  // an unknown value sells like): say so, or the planner reads it as the value's effect.
  const given = (state.last && state.last.product && state.last.product.attributes) || {};
  const unset = new Set(state.attributes.map((a) => a.name)
    .filter((name) => given[name] === undefined || given[name] === null || given[name] === ""));
  for (const [name, value] of entries) {
    const item = document.createElement("li");
    item.className = value >= 0 ? "up" : "down";
    const label = document.createElement("span");
    label.className = "bar-label";
    label.textContent = unset.has(name) ? `${name} (not set)` : name;
    const track = document.createElement("span");
    track.className = "bar-track";
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${(Math.abs(value) / scale) * 100}%`;
    track.appendChild(bar);
    const number = document.createElement("span");
    number.className = "bar-value";
    number.textContent = (value >= 0 ? "+" : "−") + fmt(Math.abs(value));
    item.append(label, track, number);
    list.appendChild(item);
  }
}
